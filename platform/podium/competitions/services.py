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

from datasets.bundle import HIDDEN_FILES, DatasetBundle
from datasets.metrics import METRICS
from podium.competitions.metric_choice import answer_key_problems, metrics_problems
from podium.competitions.models import Competition, Dataset, DatasetFile, Participation
from podium.competitions.selectors import (  # noqa: F401  (answer_key_* re-exported for the scorer)
    answer_key_for,
    answer_key_sha256,
    dataset_served_feature_files,
)
from podium.errors import ApplicationError


class _StoredFiles:
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
    with _StoredFiles() as stored:
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
    if starts_at >= ends_at:
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
    accepts_predictions: bool = True,
    accepts_configs: bool = True,
    pretrain_datasets=None,
    ladder_enabled: bool = False,
    ladder_step: float = 0.0,
    is_published: bool = True,
    merger_deadline: dt.datetime | None = None,
    max_team_size: int = 5,
    created_by=None,
) -> Competition:
    """Create a competition and fix its public/private partition of the test ids for good.

    The answer key (ids, labels, split) is written to storage and never served; its
    direction and task type come from the metric registry, not from the caller.
    `extra_metrics` are shown as columns; the primary `metric` alone ranks.
    """
    _validate_competition(
        dataset=dataset,
        metric=metric,
        extra_metrics=extra_metrics,
        starts_at=starts_at,
        ends_at=ends_at,
        accepts_predictions=accepts_predictions,
        accepts_configs=accepts_configs,
    )
    if not 0.0 < public_fraction < 1.0:
        raise ValidationError({"public_fraction": "must be between 0 and 1 (exclusive)"})
    competition = Competition(
        dataset=dataset,
        slug=slug,
        title=title,
        overview=overview,
        rules=rules,
        task_type=dataset.task_type,
        metric=metric,
        extra_metrics=list(extra_metrics),
        higher_is_better=METRICS[metric].higher_is_better,
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
        accepts_predictions=accepts_predictions,
        accepts_configs=accepts_configs,
        ladder_enabled=ladder_enabled,
        ladder_step=ladder_step,
        is_published=is_published,
        merger_deadline=merger_deadline,
        max_team_size=max_team_size,
        created_by=created_by,
    )
    competition.full_clean(exclude=["answer_key", "answer_key_sha256", "higher_is_better"])
    competition.save()
    if pretrain_datasets:
        competition.pretrain_datasets.set(pretrain_datasets)
    competition_build_answer_key(competition=competition)
    return competition


@transaction.atomic
def competition_update(*, competition: Competition, **fields) -> Competition:
    """Change a competition's presentation, dates, limits and budget; the split stays fixed."""
    frozen = {"dataset", "metric", "extra_metrics", "split_seed", "public_fraction", "slug"} & fields.keys()
    if frozen:
        raise ValidationError(
            {name: "fixed at creation: scores and the partition depend on it" for name in frozen}
        )
    pretrain = fields.pop("pretrain_datasets", None)
    for name, value in fields.items():
        setattr(competition, name, value)
    if competition.starts_at >= competition.ends_at:
        raise ValidationError({"ends_at": "the competition must end after it starts"})
    competition.full_clean()
    competition.save()
    if pretrain is not None:
        competition.pretrain_datasets.set(pretrain)
    return competition


@transaction.atomic
def competition_build_answer_key(*, competition: Competition) -> Competition:
    """Fix the public/private partition of the test ids (seeded by `split_seed`) and store the
    answer key. Called once at creation; the stored key is what every score is computed from.
    """
    from datasets.answer_key import make_answer_key

    key = make_answer_key(
        _hidden_labels(competition.dataset),
        competition.dataset.manifest,
        seed=competition.split_seed,
        public_fraction=competition.public_fraction,
    )
    errors = answer_key_problems(key=key, metric=competition.metric, extra_metrics=competition.extra_metrics)
    if errors:
        raise ValidationError(errors)
    data = key.to_bytes()
    old_name = competition.answer_key.name if competition.answer_key else None
    competition.n_public = int(key.public.sum())
    competition.n_private = int(key.public.shape[0] - competition.n_public)
    competition.answer_key_sha256 = _sha256(data)
    with _StoredFiles() as stored:
        competition.answer_key.save("answer_key.csv", ContentFile(data), save=False)
        stored.names.append(competition.answer_key.name)
        competition.save(update_fields=["answer_key", "answer_key_sha256", "n_public", "n_private"])
    if old_name and old_name != competition.answer_key.name:
        transaction.on_commit(lambda: default_storage.delete(old_name))
    return competition


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
    participation, _ = Participation.objects.get_or_create(
        competition=competition, user=user, defaults={"accepted_rules_at": now}
    )
    return participation
