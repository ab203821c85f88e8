"""Writes of datasets, competitions and participations.

A dataset's files go to Django storage; a failure anywhere removes what was
written, so a rejected or broken import leaves neither rows nor files behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.problems import Problem
from datasets.bundle import HIDDEN_FILES, DatasetBundle
from datasets.metrics import METRICS
from podium.competitions.audit import audit_record
from podium.competitions.metric_choice import answer_key_problems, metrics_problems
from podium.competitions.models import (
    LAB_DAILY_EPOCHS_DEFAULT,
    Competition,
    CompetitionHost,
    Dataset,
    DatasetFile,
    Invitation,
    JoinPolicy,
    JoinRequest,
    Participation,
    Phase,
)
from podium.competitions.phases import INHERITED, window_problems
from podium.competitions.selectors import (  # noqa: F401  (answer_key_* re-exported for the scorer)
    answer_key_for,
    answer_key_sha256,
    dataset_served_feature_files,
)
from podium.errors import ApplicationError, Conflict, NotFound


class StoredFiles:
    """Names written to storage during one operation, deleted again if it fails."""

    def __init__(self):
        self.names: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for name in self.names:
                default_storage.delete(name)
        return False


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@transaction.atomic
def dataset_create_from_bundle(*, bundle: DatasetBundle, source: str) -> Dataset:
    """Store a validated bundle as a new dataset version (rows and files, all or nothing)."""
    manifest = bundle.manifest
    hidden = set(bundle.hidden) | set(HIDDEN_FILES)
    dataset = Dataset(
        slug=manifest["slug"],
        version=int(manifest.get("version") or 1),
        title=manifest.get("title") or manifest["slug"],
        description=manifest.get("description") or "",
        license=manifest.get("license") or "",
        task_type=manifest["task_type"],
        source=source,
        manifest=manifest,
    )
    dataset.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError:
        raise ValidationError(
            {"slug": f"dataset {dataset.slug!r} version {dataset.version} already exists"}
        ) from None
    with StoredFiles() as stored:
        for name, data in sorted(bundle.files.items()):
            row = DatasetFile(
                dataset=dataset, name=name, sha256=_sha256(data), size=len(data), hidden=name in hidden
            )
            row.file.save(name, ContentFile(data), save=False)
            stored.names.append(row.file.name)
            row.save()
    return dataset


def dataset_import_builtin(*, slug: str) -> Dataset:
    """Import a built-in catalog dataset; importing it again returns the stored version."""
    from datasets import catalog

    if slug not in catalog.BUILTINS:
        raise ValidationError(
            {"slug": f"unknown built-in dataset {slug!r}; known: {', '.join(catalog.BUILTINS)}"}
        )
    version = catalog.BUILTINS[slug].version
    existing = Dataset.objects.filter(slug=slug, version=version).first()
    if existing is not None:
        return existing
    return dataset_create_from_bundle(bundle=catalog.build(slug), source=Dataset.Source.BUILTIN)


def dataset_next_version(*, slug: str) -> int:
    latest = Dataset.objects.filter(slug=slug).order_by("-version").values_list("version", flat=True).first()
    return (latest or 0) + 1


def dataset_create_from_upload(
    *,
    train_file,
    test_file=None,
    slug: str,
    title: str,
    task_type: str,
    target_column: str,
    id_column: str = "id",
    test_fraction: float | None = None,
    split_seed: int = 0,
    description: str = "",
    license: str = "",
    metric: str | None = None,
    input_shape: list[int] | None = None,
    categorical_columns: list[str] | None = None,
    text_column: str = "",
    vocab_size: int | None = None,
    max_length: int | None = None,
    truncate: bool = False,
) -> Dataset:
    """Validate uploaded CSVs with datasets.upload and store them as a new version.

    With a `text_column` the upload is a text dataset (datasets.text_upload: a tokenizer of
    `vocab_size` trained on the training texts, token arrays of `max_length`, over-long texts
    refused unless `truncate`); `categorical_columns` name the feature columns holding
    category names (embedded by the configs' `embedding` layer).

    Raises datasets.upload.UploadError (nothing stored) when the files are not usable.
    An existing slug gets its next version. The returned dataset carries `upload_warnings`
    (not stored): one per downloadable file, of another dataset or its own train.csv, that
    holds some of its test rows, whose hidden labels could then be looked up there. The
    upload is stored all the same: the admin decides.
    """
    from datasets.overlap import bundle_duplicates
    from datasets.text import DEFAULT_LENGTH, DEFAULT_VOCAB
    from datasets.text_upload import bundle_from_text_upload
    from datasets.upload import bundle_from_upload

    common = {
        "train": train_file,
        "test": test_file,
        "slug": slug,
        "title": title,
        "task_type": task_type,
        "target_column": target_column,
        "id_column": id_column,
        "test_fraction": test_fraction,
        "split_seed": split_seed,
        "max_bytes": settings.PODIUM_MAX_DATASET_FILE_BYTES,
        "description": description,
        "license": license,
        "metric": metric,
        "version": dataset_next_version(slug=slug),
    }
    if text_column:
        bundle = bundle_from_text_upload(
            **common,
            text_column=text_column,
            vocab_size=vocab_size or DEFAULT_VOCAB,
            max_length=max_length or DEFAULT_LENGTH,
            truncate=truncate,
        )
    else:
        bundle = bundle_from_upload(
            **common, input_shape=input_shape, categorical_columns=categorical_columns
        )
    duplicates = bundle_duplicates(bundle, dataset_served_feature_files())
    dataset = dataset_create_from_bundle(bundle=bundle, source=Dataset.Source.UPLOAD)
    dataset.upload_warnings = duplicates.as_warnings()
    return dataset


def dataset_create_from_image_upload(
    *,
    images_file,
    train_file,
    test_file=None,
    slug: str,
    title: str,
    task_type: str = "classification",
    id_column: str = "id",
    target_column: str = "label",
    test_fraction: float | None = None,
    split_seed: int = 0,
    resize_height: int | None = None,
    resize_width: int | None = None,
    description: str = "",
    license: str = "",
    metric: str | None = None,
) -> Dataset:
    """Validate an image upload with datasets.images (a zip of PNG/JPEG files, `id,label` CSVs)
    and store it as a new version: the CSVs, the decoded arrays and the image archives.

    Raises datasets.upload.UploadError (nothing stored) naming the file of every problem. A
    resize is both sides or neither. Carries `upload_warnings` as `dataset_create_from_upload`
    does, for test images that are images of a served file.
    """
    from datasets.images import Resize, bundle_from_image_upload
    from datasets.overlap import bundle_duplicates
    from datasets.upload import UploadError

    if (resize_height is None) != (resize_width is None):
        from common.problems import Problem

        raise UploadError([Problem("give both the resize height and width, or neither")])
    bundle = bundle_from_image_upload(
        images=images_file,
        train=train_file,
        test=test_file,
        slug=slug,
        title=title,
        task_type=task_type,
        id_column=id_column,
        target_column=target_column,
        test_fraction=test_fraction,
        split_seed=split_seed,
        resize=None if resize_height is None else Resize(height=resize_height, width=resize_width),
        max_bytes=settings.PODIUM_MAX_DATASET_FILE_BYTES,
        description=description,
        license=license,
        metric=metric,
        version=dataset_next_version(slug=slug),
    )
    duplicates = bundle_duplicates(bundle, dataset_served_feature_files())
    dataset = dataset_create_from_bundle(bundle=bundle, source=Dataset.Source.UPLOAD)
    dataset.upload_warnings = duplicates.as_warnings()
    return dataset


def _validate_competition(
    *,
    dataset: Dataset,
    metric: str,
    starts_at,
    ends_at,
    accepts_predictions: bool,
    accepts_configs: bool,
    extra_metrics=(),
) -> None:
    errors = metrics_problems(dataset=dataset, metric=metric, extra_metrics=extra_metrics)
    if ends_at is not None and starts_at >= ends_at:  # no end: a permanent benchmark
        errors["ends_at"] = "the competition must end after it starts"
    if not (accepts_predictions or accepts_configs):
        errors["accepts_predictions"] = "accept prediction files, model configs, or both"
    if errors:
        raise ValidationError(errors)


def _hidden_labels(dataset: Dataset) -> bytes:
    row = dataset.files.filter(name="test_labels.csv").first()
    if row is None:
        raise ValidationError({"dataset": f"dataset {dataset.slug!r} has no test labels to score against"})
    with row.file.open("rb") as fh:
        return fh.read()


@transaction.atomic
def competition_create(
    *,
    dataset: Dataset,
    slug: str,
    title: str,
    metric: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    extra_metrics=(),
    overview: str = "",
    rules: str = "",
    split_seed: int = 0,
    public_fraction: float = 0.3,
    daily_limit: int = 5,
    total_limit: int | None = None,
    max_final_picks: int = 2,
    budget_epochs: int = 30,
    budget_params: int = 5_000_000,
    budget_seconds: int = 600,
    max_variants: int = 1,
    lab_daily_epochs: int = LAB_DAILY_EPOCHS_DEFAULT,
    accepts_predictions: bool = True,
    accepts_configs: bool = True,
    pretrain_datasets=None,
    ladder_enabled: bool = False,
    ladder_step: float = 0.0,
    is_published: bool = True,
    merger_deadline: dt.datetime | None = None,
    join_policy: str = JoinPolicy.OPEN,
    max_team_size: int = 5,
    created_by=None,
) -> Competition:
    """Create a competition and fix its public/private partition of the test ids for good.

    The answer key (ids, labels, split) is written to storage and never served; its
    direction and task type come from the metric registry, not from the caller.
    `extra_metrics` are shown as columns; the primary `metric` alone ranks.
    """
    competition = Competition(
        dataset=dataset,
        slug=slug,
        title=title,
        overview=overview,
        rules=rules,
        task_type=dataset.task_type,
        metric=metric,
        # Anything but a list or tuple is kept as given, for competition_validate to refuse by name.
        extra_metrics=list(extra_metrics) if isinstance(extra_metrics, list | tuple) else extra_metrics,
        # An unknown metric has no direction: competition_validate refuses it before saving.
        higher_is_better=getattr(METRICS.get(metric), "higher_is_better", True),
        split_seed=split_seed,
        public_fraction=public_fraction,
        starts_at=starts_at,
        ends_at=ends_at,
        daily_limit=daily_limit,
        total_limit=total_limit,
        max_final_picks=max_final_picks,
        budget_epochs=budget_epochs,
        budget_params=budget_params,
        budget_seconds=budget_seconds,
        max_variants=max_variants,
        lab_daily_epochs=lab_daily_epochs,
        accepts_predictions=accepts_predictions,
        accepts_configs=accepts_configs,
        ladder_enabled=ladder_enabled,
        ladder_step=ladder_step,
        is_published=is_published,
        merger_deadline=merger_deadline,
        join_policy=join_policy,
        max_team_size=max_team_size,
        created_by=created_by,
    )
    competition_validate(competition=competition)
    competition.save()
    if pretrain_datasets:
        competition.pretrain_datasets.set(pretrain_datasets)
    competition_build_answer_key(competition=competition)
    phase_create_default(competition=competition)
    return competition


def competition_validate(*, competition: Competition) -> None:
    """Every problem of a competition not saved yet, as one ValidationError by field: its
    metrics on its dataset, its window, accepted kinds, public fraction and the model's own
    rules. competition_create and a bundle's import (competitions.bundle_import) both ask it."""
    errors: dict[str, list[str]] = {}
    try:
        _validate_competition(
            dataset=competition.dataset,
            metric=competition.metric,
            extra_metrics=competition.extra_metrics,
            starts_at=competition.starts_at,
            ends_at=competition.ends_at,
            accepts_predictions=competition.accepts_predictions,
            accepts_configs=competition.accepts_configs,
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    fraction = competition.public_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 < fraction < 1.0:
        errors.setdefault("public_fraction", []).append("must be between 0 and 1 (exclusive)")
    try:
        competition.full_clean(exclude=["answer_key", "answer_key_sha256", "higher_is_better", *errors])
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


FROZEN_FIELDS = frozenset({"dataset", "metric", "extra_metrics", "split_seed", "public_fraction", "slug"})


@transaction.atomic
def competition_update(*, competition: Competition, actor=None, **fields) -> Competition:
    """Change a competition's presentation, dates, limits and budget; the split stays fixed.

    On any refusal nothing is saved (the instance passed in may hold the refused values:
    reload it). With an `actor` the change is written to the audit log."""
    frozen = FROZEN_FIELDS & fields.keys()
    if frozen:
        raise ValidationError(
            {name: "fixed at creation: scores and the partition depend on it" for name in sorted(frozen)}
        )
    pretrain = fields.pop("pretrain_datasets", None)
    before = {name: getattr(competition, name) for name in fields}
    for name, value in fields.items():
        setattr(competition, name, value)
    if competition.ends_at is not None and competition.starts_at >= competition.ends_at:
        raise ValidationError({"ends_at": "the competition must end after it starts"})
    if not (competition.accepts_predictions or competition.accepts_configs):
        raise ValidationError({"accepts_predictions": "accept prediction files, model configs, or both"})
    competition.full_clean()
    _phases_check(competition, list(competition.phases.all()))
    competition.save()
    if pretrain is not None:
        competition.pretrain_datasets.set(pretrain)
    if actor is not None:
        changed = {
            name: {"from": _loggable(before[name]), "to": _loggable(value)}
            for name, value in fields.items()
            if before[name] != value
        }
        if pretrain is not None:
            changed["pretrain_datasets"] = {"to": [d.slug for d in pretrain]}
        audit_record(
            competition=competition,
            actor=actor,
            action="competition_update",
            target=f"competition {competition.slug}",
            data={"changed": changed},
        )
    return competition


def _loggable(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


@transaction.atomic
def competition_close(*, competition: Competition, actor, reason: str = "", now: dt.datetime | None = None):
    """Stop accepting entries now (the deadline becomes now); a closed competition stays closed.

    The private board is revealed by beat at the new deadline, as at any deadline."""
    now = now or timezone.now()
    locked = Competition.objects.select_for_update().get(pk=competition.pk)
    if locked.ends_at <= now:
        raise Conflict(
            f"The competition '{locked.slug}' closed already, at {locked.ends_at:%Y-%m-%d %H:%M} UTC.",
            code="closed",
        )
    if locked.starts_at > now:
        raise Conflict(
            f"The competition '{locked.slug}' has not started; change its dates instead of closing it.",
            code="not_started",
        )
    Competition.objects.filter(pk=locked.pk).update(ends_at=now)
    audit_record(
        competition=locked,
        actor=actor,
        action="competition_close",
        target=f"competition {locked.slug}",
        reason=reason,
        data={"ends_at": {"from": locked.ends_at.isoformat(), "to": now.isoformat()}},
    )
    competition.refresh_from_db(fields=["ends_at"])
    return competition


@transaction.atomic
def competition_change_metric(*, competition: Competition, metric: str, actor) -> Competition:
    """Rank by another metric of the same task (every score must then be computed again:
    the rescore job calls this). Its direction comes from the metric registry."""
    _validate_competition(
        dataset=competition.dataset,
        metric=metric,
        starts_at=competition.starts_at,
        ends_at=competition.ends_at,
        accepts_predictions=competition.accepts_predictions,
        accepts_configs=competition.accepts_configs,
    )
    old = competition.metric
    competition.metric = metric
    competition.higher_is_better = METRICS[metric].higher_is_better
    competition.save(update_fields=["metric", "higher_is_better"])
    audit_record(
        competition=competition,
        actor=actor,
        action="metric_change",
        target=f"competition {competition.slug}",
        data={"metric": {"from": old, "to": metric}},
    )
    return competition


# --- hosts ------------------------------------------------------------------------------


@transaction.atomic
def competition_host_add(*, competition: Competition, user, added_by) -> CompetitionHost:
    """Make a person a host of this one competition (site staff only decide this; idempotent)."""
    if not user.is_active:
        raise ApplicationError(f"The account '{user.username}' is not active; it cannot host.")
    host, created = CompetitionHost.objects.get_or_create(
        competition=competition, user=user, defaults={"added_by": added_by}
    )
    if created:
        audit_record(
            competition=competition, actor=added_by, action="host_add", target=f"user {user.username}"
        )
    return host


@transaction.atomic
def competition_host_remove(*, competition: Competition, user, removed_by) -> None:
    deleted, _ = CompetitionHost.objects.filter(competition=competition, user=user).delete()
    if not deleted:
        raise NotFound(f"'{user.username}' is not a host of '{competition.slug}'.")
    audit_record(
        competition=competition, actor=removed_by, action="host_remove", target=f"user {user.username}"
    )


@transaction.atomic
def competition_build_answer_key(*, competition: Competition) -> Competition:
    """Fix the public/private partition of the test ids (seeded by `split_seed`) and store the
    answer key. Called once at creation; the stored key is what every score is computed from.
    """
    _answer_key_store(
        competition,
        dataset=competition.dataset,
        seed=competition.split_seed,
        public_fraction=competition.public_fraction,
    )
    return competition


def _answer_key_store(
    holder: Competition | Phase, *, dataset: Dataset, seed: int, public_fraction: float
) -> None:
    """Build and store an answer key on its holder (a competition, or a phase with its own split)."""
    from datasets.answer_key import make_answer_key

    key = make_answer_key(
        _hidden_labels(dataset), dataset.manifest, seed=seed, public_fraction=public_fraction
    )
    competition = holder if isinstance(holder, Competition) else holder.competition
    errors = answer_key_problems(key=key, metric=competition.metric, extra_metrics=competition.extra_metrics)
    if errors:
        raise ValidationError(errors)
    _answer_key_write(holder, key=key, data=key.to_bytes())


def answer_key_store_exact(*, holder: Competition | Phase, data: bytes) -> None:
    """Store an answer key as given, byte for byte (a bundle's import: a key a host corrected
    must not be rebuilt from the dataset). Checked as a built key is: parsed against the
    holder's dataset, holding exactly the ids of the dataset's hidden test labels, and every
    metric of the competition must be defined on it."""
    from datasets.answer_key import AnswerKey, AnswerKeyError, corrected_answer_key

    competition = holder if isinstance(holder, Competition) else holder.competition
    dataset = holder.dataset or competition.dataset
    key = AnswerKey.from_bytes(data, dataset.manifest)
    try:
        # The dataset's own labels as a correction of this key: refused unless the ids match.
        corrected_answer_key(key, _hidden_labels(dataset), dataset.manifest)
    except AnswerKeyError as exc:
        shown = "; ".join(f"{p.message}{f' ({p.id})' if p.id else ''}" for p in exc.problems[:5])
        raise ValidationError(
            {
                "answer_key": f"its ids are not the test ids of dataset {dataset}: {exc.total} problems, {shown}"
            }
        ) from None
    errors = answer_key_problems(key=key, metric=competition.metric, extra_metrics=competition.extra_metrics)
    if errors:
        raise ValidationError(errors)
    _answer_key_write(holder, key=key, data=data)


def _answer_key_write(holder: Competition | Phase, *, key, data: bytes) -> None:
    old_name = holder.answer_key.name if holder.answer_key else None
    holder.n_public = int(key.public.sum())
    holder.n_private = int(key.public.shape[0] - holder.n_public)
    holder.answer_key_sha256 = _sha256(data)
    with StoredFiles() as stored:
        holder.answer_key.save("answer_key.csv", ContentFile(data), save=False)
        stored.names.append(holder.answer_key.name)
        holder.save(update_fields=["answer_key", "answer_key_sha256", "n_public", "n_private"])
    if old_name and old_name != holder.answer_key.name:
        transaction.on_commit(lambda: default_storage.delete(old_name))


@transaction.atomic
def competition_correct_answer_key(
    *, competition: Competition, labels: bytes, actor, reason: str = "", phase=None
) -> Competition | Phase:
    """Replace an answer key with corrected labels (hosts fix a wrong label) and return its
    holder, with `labels_changed` set.

    `phase` (a PhaseView): the phase whose entries are scored against the key to correct —
    its own key when it has one (a development phase on a validation split), else the
    competition's, which it shares. None: the competition's.

    The ids and the public/private partition stay as they are; the dataset's own files are
    not touched (another competition may use them). Raises datasets.answer_key.AnswerKeyError
    listing every problem, storing nothing. Scores change only when the entries are scored
    again (the rescore job)."""
    from datasets.answer_key import corrected_answer_key

    holder = phase.key_holder if phase is not None else competition
    current = answer_key_for(holder)
    key = corrected_answer_key(current, labels, holder.dataset.manifest)
    changed = int((key.targets != current.targets).sum())
    data = key.to_bytes()
    old_name = holder.answer_key.name if holder.answer_key else None
    old_sha = holder.answer_key_sha256
    holder.answer_key_sha256 = _sha256(data)
    with StoredFiles() as stored:
        holder.answer_key.save("answer_key.csv", ContentFile(data), save=False)
        stored.names.append(holder.answer_key.name)
        holder.save(update_fields=["answer_key", "answer_key_sha256"])
    if old_name and old_name != holder.answer_key.name:
        transaction.on_commit(lambda: default_storage.delete(old_name))
    target = f"phase {holder.slug}" if isinstance(holder, Phase) else f"competition {competition.slug}"
    audit_record(
        competition=competition,
        actor=actor,
        action="answer_key_correct",
        target=target,
        reason=reason,
        data={"labels_changed": changed, "sha256": {"from": old_sha, "to": holder.answer_key_sha256}},
    )
    holder.labels_changed = changed
    return holder


class JoinRefused(ApplicationError):
    """Why a user cannot join; worded for the user."""


def competition_join(*, competition: Competition, user, now: dt.datetime | None = None) -> Participation:
    """Join (accepting the rules). Joining twice returns the first participation.

    As on Kaggle, a finished competition can still be joined, to get its data; the intake
    refuses entries after the deadline, so a late joiner never ranks.
    """
    now = now or timezone.now()
    if user is None or not user.is_authenticated:
        raise JoinRefused("Log in to join a competition.")
    if not competition.is_published and not user.is_staff:
        raise JoinRefused("This competition is not published yet.")
    existing = Participation.objects.filter(competition=competition, user=user).first()
    if existing is not None:
        return existing
    if competition.join_policy == JoinPolicy.INVITE and not user.is_staff:
        if not Invitation.objects.filter(competition=competition, user=user).exists():
            raise JoinRefused(
                f"The competition '{competition.slug}' is by invitation only; ask its hosts for an invitation.",
                code="invitation_required",
                status_code=403,
            )
    if competition.join_policy == JoinPolicy.APPROVAL and not user.is_staff:
        raise JoinRefused(
            f"The hosts of '{competition.slug}' approve each participant: ask to join "
            f"(POST /api/competitions/{competition.slug}/join-requests/) and wait for their answer.",
            code="approval_required",
            status_code=403,
        )
    participation, _ = Participation.objects.get_or_create(
        competition=competition, user=user, defaults={"accepted_rules_at": now}
    )
    return participation


# --- phases (docs/leaderboard.md, "Phases") -------------------------------------------------

# What a phase's answer key depends on: fixed once the phase has its key, as a competition's.
PHASE_FROZEN = frozenset({"dataset", "split_seed", "public_fraction"})
# What an organiser sets on a phase (in the order a competition bundle writes them).
PHASE_FIELDS = ("slug", "title", "description", "starts_at", "ends_at", "late_entries", *INHERITED)


class PhaseInvalid(ApplicationError):
    """Phase settings that cannot stand; every problem names the phase and the field."""


def _phases_check(competition: Competition, phases: list[Phase]) -> None:
    problems = window_problems(competition, phases)
    for i, phase in enumerate(sorted(phases, key=lambda p: p.number)):
        accepts_predictions = _or(phase.accepts_predictions, competition.accepts_predictions)
        accepts_configs = _or(phase.accepts_configs, competition.accepts_configs)
        if not (accepts_predictions or accepts_configs):
            problems.append(
                Problem(
                    path=f"phases[{i}].accepts_predictions",
                    message=f"phase {phase.number} ('{phase.slug}') accepts no entries: accept prediction "
                    "files, model configs, or both.",
                )
            )
    if problems:
        raise PhaseInvalid(
            f"The phases of '{competition.slug}' cannot stand as asked ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}).",
            problems=problems,
            code="invalid_phases",
        )


def _or(value, fallback):
    return fallback if value is None else value


def phase_create_default(*, competition: Competition) -> Phase:
    """The one phase a competition has unless its host adds more: every setting its own."""
    phase, _ = Phase.objects.get_or_create(
        competition=competition, number=1, defaults={"slug": "main", "title": "Main phase"}
    )
    return phase


@transaction.atomic
def phase_create(
    *,
    competition: Competition,
    slug: str,
    title: str,
    dataset: Dataset | None = None,
    split_seed: int = 0,
    public_fraction: float | None = None,
    **fields,
) -> Phase:
    """Add a phase after the competition's last one. With a dataset, the phase is scored on that
    dataset's hidden labels (its own answer key, partitioned by `split_seed` and
    `public_fraction`); without one, on the competition's answer key."""
    unknown = set(fields) - set(PHASE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"Unknown phase settings: {', '.join(sorted(unknown))}.", code="invalid_phases"
        )
    Competition.objects.select_for_update().filter(pk=competition.pk).first()  # one phase added at a time
    existing = list(competition.phases.all())
    phase = Phase(
        competition=competition,
        number=max((p.number for p in existing), default=0) + 1,
        slug=slug,
        title=title,
        dataset=dataset,
        split_seed=split_seed,
        public_fraction=public_fraction,
        **fields,
    )
    phase_validate(competition, phase, existing)
    phase.save()
    if dataset is not None:
        phase_build_answer_key(phase=phase)
    return phase


@transaction.atomic
def phase_build_answer_key(*, phase: Phase) -> Phase:
    """Fix a phase's own test split: its dataset's hidden labels, partitioned by its seed and
    public fraction (the competition's when it sets none). Called once, when the phase is made."""
    fraction = (
        phase.public_fraction if phase.public_fraction is not None else phase.competition.public_fraction
    )
    _answer_key_store(phase, dataset=phase.dataset, seed=phase.split_seed, public_fraction=fraction)
    return phase


@transaction.atomic
def phase_update(*, phase: Phase, **fields) -> Phase:
    """Change a phase's window, limits, budget, accepted kinds or late entries; its split stays."""
    frozen = PHASE_FROZEN & fields.keys()
    if frozen:
        raise PhaseInvalid(
            "A phase's test split is fixed when it is created: its scores depend on it.",
            problems=[Problem(path=name, message=f"'{name}' cannot change") for name in sorted(frozen)],
            code="invalid_phases",
        )
    unknown = set(fields) - set(PHASE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"Unknown phase settings: {', '.join(sorted(unknown))}.", code="invalid_phases"
        )
    phase = Phase.objects.select_for_update().get(pk=phase.pk)
    for name, value in fields.items():
        setattr(phase, name, value)
    others = [p for p in phase.competition.phases.all() if p.pk != phase.pk]
    phase_validate(phase.competition, phase, others)
    phase.save()
    return phase


@transaction.atomic
def phase_close(*, phase: Phase, now: dt.datetime | None = None) -> Phase:
    """End a phase now (a rolling benchmark included); its late entries follow its setting.
    A phase that has not started, or has ended, is refused with the reason."""
    from podium.competitions.phases import OPEN, phase_views

    now = now or timezone.now()
    phase = Phase.objects.select_for_update(of=("self",)).select_related("competition").get(pk=phase.pk)
    view = next(v for v in phase_views(phase.competition, phase.competition.phases.all()) if v.pk == phase.pk)
    if view.status(now) != OPEN:
        raise Conflict(
            f"Phase '{phase.slug}' of '{phase.competition.slug}' is {view.status(now)}: only an open phase "
            "can be closed.",
            code="not_open",
        )
    phase.ends_at = now
    phase.save(update_fields=["ends_at"])
    return phase


def phase_validate(competition: Competition, phase: Phase, others: list[Phase]) -> None:
    try:
        phase.full_clean(exclude=["competition", "number", "answer_key", "answer_key_sha256"])
    except ValidationError as exc:
        problems = [
            Problem(path=field, message=f"{field}: {message}")
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
        raise PhaseInvalid(
            f"The phase '{phase.slug}' is not valid.", problems=problems, code="invalid_phases"
        )
    if any(p.slug == phase.slug for p in others):
        raise PhaseInvalid(
            f"The competition '{competition.slug}' already has a phase '{phase.slug}'.",
            problems=[Problem(path="slug", message=f"'{phase.slug}' is taken")],
            code="invalid_phases",
        )
    if phase.dataset is not None and phase.dataset.task_type != competition.task_type:
        raise PhaseInvalid(
            f"The phase's dataset '{phase.dataset.slug}' is {phase.dataset.task_type}, the competition "
            f"'{competition.slug}' is {competition.task_type}.",
            problems=[Problem(path="dataset", message="the task type differs from the competition's")],
            code="invalid_phases",
        )
    if phase.public_fraction is not None and not 0.0 < phase.public_fraction < 1.0:
        raise PhaseInvalid(
            "The public fraction must be between 0 and 1 (exclusive).",
            problems=[Problem(path="public_fraction", message=f"{phase.public_fraction} is outside (0, 1)")],
            code="invalid_phases",
        )
    _phases_check(competition, [*others, phase])


# --- join requests and invitations ------------------------------------------------------------


@transaction.atomic
def join_request_create(*, competition: Competition, user) -> JoinRequest:
    """Ask to join a competition whose hosts approve each participant (idempotent while pending;
    a declined request is not asked again: the hosts decided)."""
    if user is None or not user.is_authenticated:
        raise JoinRefused("Log in to ask to join a competition.")
    if competition.join_policy != JoinPolicy.APPROVAL:
        raise ApplicationError(
            f"The competition '{competition.slug}' does not take join requests; "
            + (
                "join it directly."
                if competition.join_policy == JoinPolicy.OPEN
                else "it is by invitation only."
            ),
            code="no_requests",
        )
    if Participation.objects.filter(competition=competition, user=user).exists():
        raise Conflict(f"You have joined '{competition.slug}' already.", code="joined")
    request, _ = JoinRequest.objects.get_or_create(competition=competition, user=user)
    if request.state == JoinRequest.State.DECLINED:
        reason = f": {request.reason}" if request.reason else "."
        raise Conflict(f"The hosts of '{competition.slug}' declined your request{reason}", code="declined")
    return request


@transaction.atomic
def join_request_decide(
    *, join_request: JoinRequest, approve: bool, decided_by, reason: str = "", now=None
) -> JoinRequest:
    """Approve (the person joins, accepting the rules they were shown) or decline a request."""
    now = now or timezone.now()
    locked = (
        JoinRequest.objects.select_for_update(of=("self",))
        .select_related("competition", "user")
        .get(pk=join_request.pk)
    )
    if locked.state != JoinRequest.State.PENDING:
        raise Conflict(f"This request was {locked.state} already.", code=locked.state)
    locked.state = JoinRequest.State.APPROVED if approve else JoinRequest.State.DECLINED
    locked.decided_at = now
    locked.decided_by = decided_by
    locked.reason = reason[:500]
    locked.save(update_fields=["state", "decided_at", "decided_by", "reason"])
    if approve:
        Participation.objects.get_or_create(
            competition=locked.competition,
            user=locked.user,
            defaults={"accepted_rules_at": locked.created_at},
        )
    audit_record(
        competition=locked.competition,
        actor=decided_by,
        action="join_approve" if approve else "join_decline",
        target=f"user {locked.user.username}",
        reason=reason,
    )
    return locked


@transaction.atomic
def invitation_create(*, competition: Competition, user, invited_by) -> Invitation:
    """Invite a person to an invite-only competition (idempotent); they then join as usual."""
    if competition.join_policy != JoinPolicy.INVITE:
        raise ApplicationError(
            f"The competition '{competition.slug}' is not invite-only; anyone allowed may join or ask to join.",
            code="not_invite_only",
        )
    invitation, created = Invitation.objects.get_or_create(
        competition=competition, user=user, defaults={"invited_by": invited_by}
    )
    if created:
        audit_record(
            competition=competition, actor=invited_by, action="invite", target=f"user {user.username}"
        )
    return invitation
