"""Reads of datasets and competitions, each filtered by who asks.

Competitions are public once published (as on Kaggle, anyone may browse them);
drafts are seen by staff only. Hidden dataset files never leave through here
except `answer_key_for`, which is for the scorer and is never exposed by a view.
"""

from __future__ import annotations

import datetime as dt
import threading

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from common.problems import echo
from datasets.bundle import HIDDEN_FILES
from datasets.overlap import FEATURE_FILES, IMAGE_ROW_FILES, ServedFile
from podium.competitions.models import (
    Competition,
    CompetitionHost,
    Dataset,
    DatasetFile,
    Participation,
    Phase,
)
from podium.competitions.phases import PhaseView, current_view, phase_views
from podium.errors import NotFound

STATUSES = ("open", "upcoming", "past")


def _is_staff(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_staff)


def _authenticated(user) -> bool:
    return bool(user is not None and user.is_authenticated)


def competition_status(competition: Competition, *, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    if competition.starts_at > now:
        return "upcoming"
    if competition.ends_at is not None and competition.ends_at <= now:  # no end: a permanent benchmark
        return "past"
    return "open"


def next_daily_reset(*, now: dt.datetime | None = None) -> dt.datetime:
    """Daily submission limits reset at midnight UTC, as on Kaggle."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 0), tzinfo=dt.UTC)


def _count_subquery(model_qs: QuerySet, field: str) -> Coalesce:
    # A correlated COUNT per row: joining two to-many relations and counting distinct
    # would multiply rows (participants × entries) before collapsing them.
    counted = (
        model_qs.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _visible(user) -> QuerySet[Competition]:
    qs = Competition.objects.all()
    if _is_staff(user):
        return qs
    if _authenticated(user):
        # A host sees the drafts of the competitions they host, as staff do.
        hosted = CompetitionHost.objects.filter(competition=OuterRef("pk"), user=user)
        return qs.filter(Q(is_published=True) | Exists(hosted))
    return qs.filter(is_published=True)


def competition_is_host(*, competition: Competition, user) -> bool:
    """A host of this competition (site staff are not hosts, they manage every competition)."""
    if not _authenticated(user):
        return False
    return CompetitionHost.objects.filter(competition=competition, user=user).exists()


def competition_can_manage(*, competition: Competition, user) -> bool:
    """Site staff, or a host of this very competition: the one rule for every host action."""
    return _is_staff(user) or competition_is_host(competition=competition, user=user)


def competition_get_managed(*, slug: str, user) -> Competition:
    """The competition if the user manages it: Http404 when they cannot see it, NotAllowed
    (403) when they see it but do not host it."""
    from podium.errors import NotAllowed

    competition = competition_get(slug=slug, user=user)
    if not competition_can_manage(competition=competition, user=user):
        raise NotAllowed(f"Only the hosts of '{competition.slug}' and site staff may manage it.")
    return competition


def competitions_hosted(*, user) -> QuerySet[Competition]:
    """The competitions a person manages: every one for staff, their hosted ones otherwise."""
    if _is_staff(user):
        return Competition.objects.all()
    if not _authenticated(user):
        return Competition.objects.none()
    return Competition.objects.filter(hosts__user=user)


def competition_hosts(*, competition: Competition) -> QuerySet[CompetitionHost]:
    return CompetitionHost.objects.filter(competition=competition).select_related("user").order_by("added_at")


def _annotated(qs: QuerySet[Competition], user) -> QuerySet[Competition]:
    from podium.submissions.models import Status, Submission

    qs = qs.select_related("dataset").annotate(
        n_participants=_count_subquery(Participation.objects.all(), "competition"),
        n_entries=_count_subquery(Submission.objects.filter(status=Status.SCORED), "competition"),
    )
    if _authenticated(user):
        qs = qs.annotate(
            has_joined=Exists(Participation.objects.filter(competition=OuterRef("pk"), user=user))
        )
    else:
        qs = qs.annotate(has_joined=Value(False))
    return qs


def competition_list(*, user, filters: dict | None = None) -> QuerySet[Competition]:
    """Competitions the user may see, filtered (status=open|upcoming|past, task_type, metric,
    dataset, search), with participant and scored-entry counts in the same query.

    Raises django.core.exceptions.ValidationError naming each bad filter.
    """
    from podium.competitions.filters import CompetitionFilter

    found = CompetitionFilter(filters or {}, queryset=_visible(user))
    if not found.is_valid():
        raise ValidationError({name: [str(e) for e in errs] for name, errs in found.errors.items()})
    # A list row never shows the long texts, and a manifest can hold thousands of feature names.
    return _annotated(found.qs, user).defer("overview", "rules", "dataset__manifest", "dataset__description")


def competition_get(*, slug: str, user) -> Competition:
    """The competition if the user may see it; Http404 otherwise (drafts do not leak)."""
    found = _annotated(_visible(user).filter(slug=slug), user).prefetch_related("pretrain_datasets").first()
    if found is None:
        raise Http404("No such competition.")
    return found


def dataset_latest_version(*, slug: str) -> int | None:
    """The newest version stored under a dataset slug, None when the slug is new."""
    return Dataset.objects.filter(slug=slug).order_by("-version").values_list("version", flat=True).first()


def competition_slug_taken(*, slug: str) -> bool:
    """Whether a competition (published or not) already has this slug: a form says so with
    its other errors, before the service's own check refuses it."""
    return Competition.objects.filter(slug=slug).exists()


def participation_exists(*, competition: Competition, user) -> bool:
    if not _authenticated(user):
        return False
    return Participation.objects.filter(competition=competition, user=user).exists()


def competition_can_download(*, competition: Competition, user) -> bool:
    """Data is downloaded after accepting the rules (joining), as on Kaggle; staff and the
    competition's hosts always may."""
    return participation_exists(competition=competition, user=user) or competition_can_manage(
        competition=competition, user=user
    )


# --- datasets ---------------------------------------------------------------------------


def dataset_list(*, user) -> QuerySet[Dataset]:
    """Built-in datasets and those of published competitions; staff see every upload too.

    An admin's upload for a competition still in draft stays private until it is published.
    """
    qs = Dataset.objects.all()
    if _is_staff(user):
        return qs
    published = Competition.objects.filter(is_published=True)
    return qs.filter(
        Q(source=Dataset.Source.BUILTIN)
        | Q(pk__in=published.values("dataset_id"))
        | Q(pk__in=published.values("pretrain_datasets"))
    )


def dataset_get(*, slug: str, user, version: int | None = None) -> Dataset:
    """The dataset's latest visible version (or the one asked for); Http404 when unknown."""
    qs = dataset_list(user=user).filter(slug=slug)
    if version is not None:
        qs = qs.filter(version=version)
    found = qs.order_by("-version").first()
    if found is None:
        raise Http404("No such dataset.")
    return found


def dataset_get_by_id(*, dataset_id: int, user) -> Dataset:
    """One dataset version by its id, if the user may see it; Http404 otherwise."""
    found = dataset_list(user=user).filter(pk=dataset_id).first()
    if found is None:
        raise Http404("No such dataset.")
    return found


def _public_q() -> Q:
    # Two sources must agree that a file is public: the row's flag and the fixed list of
    # hidden names; a file wrongly flagged public by hand in the admin still stays hidden.
    return Q(hidden=False) & ~Q(name__in=HIDDEN_FILES)


def dataset_public_files(*, dataset: Dataset) -> QuerySet[DatasetFile]:
    hidden_in_manifest = [
        name for name, entry in (dataset.manifest.get("files") or {}).items() if entry.get("hidden")
    ]
    return dataset.files.filter(_public_q()).exclude(name__in=hidden_in_manifest).order_by("name")


def dataset_public_file(*, dataset: Dataset, name: str) -> DatasetFile:
    found = dataset_public_files(dataset=dataset).filter(name=name).first()
    if found is None:
        raise Http404(f"No file {name!r} in dataset {dataset.slug!r}.")
    return found


def dataset_served_feature_files() -> list[ServedFile]:
    """Every downloadable file with feature rows, of every dataset version (an old version
    stays downloadable), for finding a new upload's test rows in them."""
    files = DatasetFile.objects.filter(_public_q(), name__in=FEATURE_FILES + IMAGE_ROW_FILES).select_related(
        "dataset"
    )
    served = []
    for row in files.order_by("dataset__slug", "dataset__version", "name"):
        with row.file.open("rb") as fh:
            file = ServedFile.of(
                f"{row.dataset.slug} v{row.dataset.version} {row.name}",
                row.name,
                fh.read(),
                row.dataset.manifest,
            )
        if file is not None:
            served.append(file)
    return served


def public_manifest(dataset: Dataset) -> dict:
    """The manifest as participants see it: hidden files are not even listed."""
    manifest = dict(dataset.manifest)
    manifest["files"] = {
        name: entry
        for name, entry in (dataset.manifest.get("files") or {}).items()
        if not entry.get("hidden") and name not in HIDDEN_FILES
    }
    return manifest


# --- answer keys (scorer only) -------------------------------------------------------------


def answer_key_sha256(competition: Competition | Phase) -> str:
    return competition.answer_key_sha256


def answer_key_bytes(competition: Competition | Phase) -> bytes:
    if not competition.answer_key:
        raise ValueError(f"{competition._meta.model_name} {competition.pk} has no answer key")
    with competition.answer_key.open("rb") as fh:
        return fh.read()


def answer_key_for(competition: Competition | Phase):
    """The answer key of a competition (or of a phase with its own split) as a
    datasets.answer_key.AnswerKey, for the scorer alone (never for a view).

    Parsing a key of a million rows costs far more than scoring against it, so each
    process keeps the keys it has loaded, keyed by content hash: a rebuilt key is never
    served stale.
    """
    from datasets.answer_key import AnswerKey

    cache_key = (competition._meta.model_name, competition.pk, competition.answer_key_sha256)
    key = _parsed_keys.get(cache_key)
    if key is None:
        key = AnswerKey.from_bytes(answer_key_bytes(competition), competition.dataset.manifest)
        with _parsed_lock:
            if len(_parsed_keys) >= _PARSED_KEYS_LIMIT:
                _parsed_keys.pop(next(iter(_parsed_keys)))
            _parsed_keys[cache_key] = key
    return key


_parsed_keys: dict[tuple[str, int, str], object] = {}
_parsed_lock = threading.Lock()
_PARSED_KEYS_LIMIT = 16


def _test_ids(dataset: Dataset) -> list[str]:
    import csv
    import io

    row = dataset.files.get(name="test.csv")
    with row.file.open("rb") as fh:
        reader = csv.reader(io.TextIOWrapper(fh, encoding="utf-8-sig", newline=""))
        header = next(reader)
        position = header.index(dataset.manifest.get("id_column") or "id")
        return [r[position] for r in reader if r]


def sample_submission_for(*, competition: Competition, dataset: Dataset | None = None) -> bytes:
    """A valid predictions file in this competition's format (its metric decides the columns).

    The dataset's stored sample follows the dataset's default metric, which a competition
    may not share (labels for accuracy, one probability column per class for log-loss).
    """
    from django.core.cache import cache

    from datasets.formats import sample_submission

    dataset = dataset or competition.dataset  # a phase with its own test split passes its dataset
    test_file = dataset.files.filter(name="test.csv").values_list("sha256", flat=True).first()
    key = f"podium:sample-submission:{competition.metric}:{test_file}"
    data = cache.get(key)
    if data is None:
        data = sample_submission(dataset.manifest, competition.metric, _test_ids(dataset))
        cache.set(key, data, 3600)
    return data


# --- phases ----------------------------------------------------------------------------------


def competition_phases(competition: Competition) -> list[PhaseView]:
    """The competition's phases with their settings resolved (competitions.phases), in order.
    The rows are loaded once per competition instance (a request that asks twice runs one
    query); the settings are resolved on every call, from the competition as it is now."""
    rows = getattr(competition, "_phase_rows", None)
    if rows is None:
        rows = list(
            Phase.objects.filter(competition=competition).select_related("dataset").order_by("number")
        )
        competition._phase_rows = rows
    for row in rows:
        row.competition = competition
    return phase_views(competition, rows)


def competition_phase(
    *, competition: Competition, slug: str | None = None, now: dt.datetime | None = None
) -> PhaseView:
    """The phase named by `slug`, or the current one when none is named (the phase is
    optional in URLs and the API). An unknown slug is a 404 that lists the phases."""
    views = competition_phases(competition)
    if not views:
        raise NotFound(f"The competition '{competition.slug}' has no phases.")
    if slug in (None, ""):
        return current_view(views, now or timezone.now())
    for view in views:
        if view.slug == slug:
            return view
    raise NotFound(
        f"The competition '{competition.slug}' has no phase {echo(slug)}; its phases are "
        f"{', '.join(repr(v.slug) for v in views)}.",
        code="unknown_phase",
    )


def submission_phase(submission) -> PhaseView:
    """The phase an entry belongs to, with its settings resolved."""
    for view in competition_phases(submission.competition):
        if view.pk == submission.phase_id:
            return view
    raise NotFound(f"Submission #{submission.pk} names a phase its competition does not have.")
