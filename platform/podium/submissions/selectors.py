"""Reads of submissions, each filtered by who asks.

A participant sees their own entries and their team's; an admin sees all; anybody
else gets nothing (the API answers 404, so ids do not leak).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from datasets.bundle import HIDDEN_FILES
from podium.competitions.models import Competition, DatasetFile
from podium.competitions.phases import PhaseView
from podium.competitions.selectors import competition_phase, submission_phase
from podium.submissions.models import EpochMetric, Submission
from podium.teams.models import TeamMembership


def _is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def competition_for_submissions(*, slug: str, user) -> Competition:
    """The competition as the asker may see it (drafts 404 for participants).

    Leaner than competitions.selectors.competition_get (no counts, no prefetch): it
    sits on the intake path, which must take a hundred entries a second.
    """
    published = {} if _is_admin(user) else {"is_published": True}
    try:
        # get(): the slug is unique, and first()'s ORDER BY costs more to compile than the
        # query takes to run.
        return Competition.objects.select_related("dataset").get(slug=slug, **published)
    except Competition.DoesNotExist:
        raise Http404("No such competition.") from None


def submissions_visible_to(*, user) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("competition", "phase", "user", "team")
    if _is_admin(user):
        return qs
    if user is None or not user.is_authenticated:
        return qs.none()
    teams = TeamMembership.objects.filter(user=user).values("team_id")
    return qs.filter(Q(user=user) | Q(team_id__in=teams))


def submission_list(*, competition: Competition, user) -> QuerySet[Submission]:
    """Evaluate it through submissions_shown, which withholds what the asker may not see."""
    return submissions_visible_to(user=user).filter(competition=competition)


def public_scores_withheld(*, competition: Competition, user, phase: PhaseView | None = None) -> bool:
    """Under the Ladder (Blum & Hardt) a participant learns a public score only as the
    board releases it; the exact score of each entry would undo the protection. Withheld
    until the phase's private reveal; staff see everything."""
    if not competition.ladder_enabled or _is_admin(user):
        return False
    phase = phase or competition_phase(competition=competition)
    return phase.private_revealed_at is None


def private_scores_visible(
    *, competition: Competition, user, now: dt.datetime | None = None, phase: PhaseView | None = None
) -> bool:
    """The one rule for every private score (boards, exports, entries, pages, the API), per
    phase (none named: the current one).

    Never while the phase accepts entries inside its window: a participant who saw private
    scores could choose their next entries by them; a phase without an end never shows them.
    After the close: to everyone once the phase's board is revealed, to staff before. Late
    entries come after the close, so the same rule shows theirs. A reveal before the deadline
    closes the phase first (leaderboards.services.board_reveal), and a deadline moved later
    hides them again."""
    now = now or timezone.now()
    phase = phase or competition_phase(competition=competition, now=now)
    if not phase.is_over(now):
        return False
    return phase.private_revealed_at is not None or _is_admin(user)


def submissions_shown(submissions, *, user) -> list[Submission]:
    """The entries as `user` may see them: exact public scores withheld under the Ladder,
    private scores withheld unless private_scores_visible.

    The instances are display copies from then on: Submission.save refuses them."""
    shown = list(submissions)
    now = timezone.now()
    views: dict[int, list] = {}  # one phases query per competition, not per entry
    for submission in shown:
        competition = submission.competition
        if competition.pk in views:
            competition._phase_rows = views[competition.pk]
        phase = submission_phase(submission)
        views[competition.pk] = competition._phase_rows
        submission.scores_withheld_reason = None  # "ladder" or "private": why a score is blank
        hide_public = (
            public_scores_withheld(competition=competition, user=user, phase=phase) and not submission.is_late
        )
        if hide_public:
            if submission.public_score is not None:
                submission.scores_withheld_reason = "ladder"
            submission.public_score = submission.public_ci_low = submission.public_ci_high = None
            submission.scores_withheld = True
        hide_private = not private_scores_visible(competition=competition, user=user, now=now, phase=phase)
        if submission.private_score is not None and hide_private:
            submission.private_score = None
            submission.scores_withheld = True
            submission.scores_withheld_reason = submission.scores_withheld_reason or "private"
        if submission.extra_scores and (hide_public or hide_private):
            # The other metrics follow the same two rules as the primary one.
            submission.extra_scores = {
                name: {
                    "public": None if hide_public else scores.get("public"),
                    "private": None if hide_private else scores.get("private"),
                }
                for name, scores in submission.extra_scores.items()
            }
            submission.scores_withheld = True
    return shown


def submission_list_with_progress(*, competition: Competition, user) -> list[Submission]:
    """The entries `user` may see here, as shown to them, each with the current attempt's epoch
    count (`epochs_done`), its epoch budget (`epochs_total`) and the share done (`progress`, %)."""
    counted = (
        submission_list(competition=competition, user=user)
        .annotate(epochs_done=Count("epoch_metrics", filter=Q(epoch_metrics__attempt=F("attempt"))))
        # Newest first, said explicitly: Django drops Meta.ordering from a GROUP BY query.
        .order_by("-created_at", "-id")
    )
    rows = submissions_shown(counted, user=user)
    for row in rows:
        row.epochs_total = config_planned_epochs(row.config) or submission_phase(row).budget_epochs
        row.progress = min(100, round(100 * row.epochs_done / row.epochs_total)) if row.epochs_total else 0
    return rows


def config_has_variants(config: dict | None) -> bool:
    """Whether a stored (normalised) config trains several models: a sweep or an ensemble."""
    if not config:
        return False
    seeds = ((config.get("train") or {}).get("ensemble") or {}).get("seeds") or 1
    return bool(config.get("sweep")) or seeds > 1


def config_variants(config: dict | None) -> list:
    """The models a stored config trains (`workers.spec.Variant`: index, label, overrides), in
    the order of the epochs' `variant`; empty for an entry of one model, or a config stored
    before a schema change."""
    if not config_has_variants(config):
        return []
    from workers.spec import ConfigError, expand_variants, load_config

    try:
        return expand_variants(load_config(config))
    except (ConfigError, ValueError, TypeError):
        return []


def config_planned_epochs(config: dict | None) -> int | None:
    """The training epochs a stored config plans: all its variants' together, as the budget
    counts them (None: no config)."""
    if not config:
        return None
    variants = config_variants(config)
    if variants:
        return sum(v.config.train.epochs for v in variants)
    return (config.get("train") or {}).get("epochs")


def submission_get(*, submission_id: int, user, with_epochs: bool = False) -> Submission:
    qs = submissions_visible_to(user=user)
    if with_epochs:
        qs = qs.prefetch_related(
            Prefetch("epoch_metrics", queryset=EpochMetric.objects.order_by("attempt", "variant", "epoch"))
        )
    submission = qs.filter(pk=submission_id).first()
    if submission is None:
        raise Http404("No such submission.")
    return submissions_shown([submission], user=user)[0]


def submission_epochs(submission: Submission) -> list[EpochMetric]:
    """The current attempt's curve (from submission_get(with_epochs=True)), each variant's in
    turn; earlier attempts were cut off by a lost worker."""
    return [m for m in submission.epoch_metrics.all() if m.attempt == submission.attempt]


def submission_for_worker(*, submission_id: int) -> Submission:
    submission = Submission.objects.select_related("competition__dataset").filter(pk=submission_id).first()
    if submission is None:
        raise Http404("No such submission.")
    return submission


def worker_datasets(*, competition: Competition, phase=None) -> list:
    """The phase's dataset (the competition's unless the phase has its own test split) first,
    then the pre-training datasets the competition allows."""
    first = phase.dataset if phase is not None else competition.dataset
    return [first, *competition.pretrain_datasets.all()]


def worker_dataset_file(*, submission: Submission, dataset_slug: str, name: str) -> DatasetFile:
    """A participant-facing file of a dataset this entry may use; hidden files never match."""
    from podium.competitions.selectors import submission_phase

    phase = submission_phase(submission)
    return public_dataset_file(
        datasets=worker_datasets(competition=submission.competition, phase=phase),
        dataset_slug=dataset_slug,
        name=name,
    )


def public_dataset_file(*, datasets: list, dataset_slug: str, name: str) -> DatasetFile:
    """A participant-facing file of one of `datasets` (what a worker's order may use: an
    entry's, a lab run's); hidden files never match (404)."""
    allowed_ids = [d.pk for d in datasets if d.slug == dataset_slug]
    found = (
        DatasetFile.objects.filter(dataset_id__in=allowed_ids, name=name, hidden=False)
        .select_related("dataset")
        .first()
    )
    if found is None or _hidden_in_manifest(found):
        raise Http404("No such file for this worker order.")
    return found


def _hidden_in_manifest(dataset_file: DatasetFile) -> bool:
    # Two sources must agree that a file is public: the row's flag and the manifest.
    entry = (dataset_file.dataset.manifest.get("files") or {}).get(dataset_file.name) or {}
    return bool(entry.get("hidden")) or dataset_file.name in HIDDEN_FILES
