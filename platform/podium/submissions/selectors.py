"""Reads of submissions, each filtered by who asks.

A participant sees their own entries and their team's; an admin sees all; anybody
else gets nothing (the API answers 404, so ids do not leak).
"""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from datasets.bundle import HIDDEN_FILES
from podium.accounts.models import TeamMembership
from podium.competitions.models import Competition, DatasetFile
from podium.submissions.models import EpochMetric, Submission


def _is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def competition_for_submissions(*, slug: str, user) -> Competition:
    """The competition as the asker may see it (drafts 404 for participants).

    Leaner than competitions.selectors.competition_get (no counts, no prefetch): it
    sits on the intake path, which must take a hundred entries a second.
    """
    qs = Competition.objects.select_related("dataset").filter(slug=slug)
    if not _is_admin(user):
        qs = qs.filter(is_published=True)
    competition = qs.first()
    if competition is None:
        raise Http404("No such competition.")
    return competition


def submissions_visible_to(*, user) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("competition", "user", "team")
    if _is_admin(user):
        return qs
    if user is None or not user.is_authenticated:
        return qs.none()
    teams = TeamMembership.objects.filter(user=user).values("team_id")
    return qs.filter(Q(user=user) | Q(team_id__in=teams))


def submission_list(*, competition: Competition, user) -> QuerySet[Submission]:
    return submissions_visible_to(user=user).filter(competition=competition)


def submission_get(*, submission_id: int, user, with_epochs: bool = False) -> Submission:
    qs = submissions_visible_to(user=user)
    if with_epochs:
        qs = qs.prefetch_related(
            Prefetch("epoch_metrics", queryset=EpochMetric.objects.order_by("attempt", "epoch"))
        )
    submission = qs.filter(pk=submission_id).first()
    if submission is None:
        raise Http404("No such submission.")
    return submission


def submission_for_worker(*, submission_id: int) -> Submission:
    submission = Submission.objects.select_related("competition__dataset").filter(pk=submission_id).first()
    if submission is None:
        raise Http404("No such submission.")
    return submission


def worker_datasets(*, competition: Competition) -> list:
    """The competition's dataset first, then the pre-training datasets it allows."""
    return [competition.dataset, *competition.pretrain_datasets.all()]


def worker_dataset_file(*, submission: Submission, dataset_slug: str, name: str) -> DatasetFile:
    """A participant-facing file of a dataset this entry may use; hidden files never match."""
    allowed_ids = [
        d.pk for d in worker_datasets(competition=submission.competition) if d.slug == dataset_slug
    ]
    found = (
        DatasetFile.objects.filter(dataset_id__in=allowed_ids, name=name, hidden=False)
        .select_related("dataset")
        .first()
    )
    if found is None or _hidden_in_manifest(found):
        raise Http404("No such file for this entry.")
    return found


def _hidden_in_manifest(dataset_file: DatasetFile) -> bool:
    # Two sources must agree that a file is public: the row's flag and the manifest.
    entry = (dataset_file.dataset.manifest.get("files") or {}).get(dataset_file.name) or {}
    return bool(entry.get("hidden")) or dataset_file.name in HIDDEN_FILES
