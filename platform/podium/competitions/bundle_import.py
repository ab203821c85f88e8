"""Importing a competition bundle (competitions.bundle_export's zip) on this server.

Two passes, both listing every problem they find (common.problems):
1. the bundle itself: a safe zip (datasets.zips: no `..` paths, no bomb), a YAML mapping
   (yaml.safe_load only), each named file present with its sha256, known metrics, dataset
   references that resolve, answer keys that parse, a free slug;
2. the rows, in one transaction, with the checks competition_create and phase_create make.
Any problem refuses the whole bundle: the transaction rolls back and every file written to
storage is deleted, so nothing is stored. Datasets already here with identical files (by
sha256) are reused, not copied; answer keys are stored byte for byte, never rebuilt.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from common.problems import ProblemList, echo
from datasets.bundle import DatasetBundle
from datasets.metrics import METRICS
from datasets.zips import ZipLimits, read_zip
from podium.competitions import services
from podium.competitions.audit import audit_record
from podium.competitions.bundle_export import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    COMPETITION_FIELDS,
    DATETIME_FIELDS,
    DESCRIPTION_NAME,
    PHASE_FIELDS,
)
from podium.competitions.models import Competition, Dataset, DatasetFile, Phase, TaskType
from podium.errors import ApplicationError

YAML = DESCRIPTION_NAME


class BundleInvalid(ApplicationError):
    """A bundle refused with every problem found; nothing was stored."""


def _refuse(problems: ProblemList) -> BundleInvalid:
    n = problems.total
    return BundleInvalid(
        f"The bundle cannot be imported ({n} problem{'s' if n != 1 else ''}); nothing was stored.",
        problems=problems.items,
        total=problems.total,
        code="invalid_bundle",
    )


def _key(ref) -> tuple[str, int] | None:
    if isinstance(ref, dict) and isinstance(ref.get("slug"), str) and type(ref.get("version")) is int:
        return ref["slug"], ref["version"]
    return None


class _Checked:
    """What pass 1 found usable: the description and the zip's members by name."""

    def __init__(self, description: dict, members: dict[str, bytes]):
        self.description = description
        self.members = members
        self.datasets: dict[tuple[str, int], dict] = {}


def _file(entry, where: str, members: dict[str, bytes], problems: ProblemList) -> bytes | None:
    """The bytes of a file named in the YAML, checked against its sha256."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        problems.add("give the file as a mapping with 'path' and 'sha256'", file=YAML, path=where)
        return None
    path, expected = entry["path"], entry.get("sha256")
    if path not in members:
        problems.add(f"the file {echo(path)} is missing from the zip", file=YAML, path=where)
        return None
    data = members[path]
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        problems.add(
            f"the file {echo(path)} has sha256 {actual}, the bundle says {echo(expected)}: it was changed "
            "or damaged",
            file=YAML,
            path=where,
        )
        return None
    return data


def _check_datasets(checked: _Checked, problems: ProblemList) -> None:
    entries = checked.description.get("datasets")
    if not isinstance(entries, list) or not entries:
        problems.add("'datasets' must be a non-empty list", file=YAML, path="datasets")
        return
    for i, entry in enumerate(entries):
        where = f"datasets[{i}]"
        key = _key(entry)
        if key is None:
            problems.add("a dataset needs a 'slug' (text) and a 'version' (a number)", file=YAML, path=where)
            continue
        if key in checked.datasets:
            problems.add(f"dataset {key[0]!r} version {key[1]} is listed twice", file=YAML, path=where)
            continue
        if entry.get("task_type") not in TaskType.values:
            problems.add(
                f"unknown task type {echo(entry.get('task_type'))}; one of {', '.join(TaskType.values)}",
                file=YAML,
                path=f"{where}.task_type",
            )
        if not isinstance(entry.get("manifest"), dict):
            problems.add("the manifest must be a mapping", file=YAML, path=f"{where}.manifest")
        files = entry.get("files")
        if not isinstance(files, list) or not files:
            problems.add("'files' must be a non-empty list", file=YAML, path=f"{where}.files")
            continue
        contents, hidden = {}, set()
        for j, file_entry in enumerate(files):
            data = _file(file_entry, f"{where}.files[{j}]", checked.members, problems)
            name = file_entry.get("name") if isinstance(file_entry, dict) else None
            if not isinstance(name, str) or not name or "/" in name:
                problems.add("each file needs a plain 'name'", file=YAML, path=f"{where}.files[{j}].name")
                continue
            if data is not None:
                contents[name] = data
                if file_entry.get("hidden"):
                    hidden.add(name)
        checked.datasets[key] = {**entry, "contents": contents, "hidden": hidden}


def _metric_problems(competition: dict, problems: ProblemList) -> None:
    metric = competition.get("metric")
    if metric not in METRICS:
        problems.add(
            f"unknown metric {echo(metric)}; this server knows {', '.join(METRICS)}",
            file=YAML,
            path="competition.metric",
        )
    extra = competition.get("extra_metrics") or []
    if not isinstance(extra, list):
        problems.add("a list of metric names", file=YAML, path="competition.extra_metrics")
        return
    for i, name in enumerate(extra):
        if name not in METRICS:
            problems.add(
                f"unknown metric {echo(name)}; this server knows {', '.join(METRICS)}",
                file=YAML,
                path=f"competition.extra_metrics[{i}]",
            )


def _check_holder(
    holder: dict, where: str, checked: _Checked, problems: ProblemList, *, needs_dataset: bool
) -> None:
    """A competition's or phase's dataset reference, dates and answer key."""
    ref = holder.get("dataset")
    if ref is not None or needs_dataset:
        key = _key(ref)
        if key is None or key not in checked.datasets:
            problems.add(
                f"the dataset {echo(ref)} is not one of the bundle's datasets",
                file=YAML,
                path=f"{where}.dataset",
            )
    for name in DATETIME_FIELDS & holder.keys():
        value = holder[name]
        if value is not None and _datetime(value) is None:
            problems.add(
                f"{echo(value)} is not a date and time (ISO 8601, with its UTC offset)",
                file=YAML,
                path=f"{where}.{name}",
            )
    entry = holder.get("answer_key")
    if entry is not None:
        holder["_answer_key"] = _file(entry, f"{where}.answer_key", checked.members, problems)
    elif ref is not None:
        # A competition, or a phase with its own test split, is scored against its own key.
        problems.add("the answer key of this test split is missing", file=YAML, path=f"{where}.answer_key")


def _datetime(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return None
        return parsed if parsed is not None and parsed.tzinfo is not None else None
    return None


def bundle_check(*, data: bytes, slug: str | None = None, limits: ZipLimits = ZipLimits()) -> _Checked:
    """Pass 1: the bundle read and checked without touching the database's rows (but for the
    slug). Raises BundleInvalid listing every problem."""
    problems = ProblemList()
    members = {m.name: m.data for m in read_zip(data, label="the bundle", problems=problems, limits=limits)}
    if problems:
        raise _refuse(problems)
    if YAML not in members:
        problems.add(f"the bundle has no {YAML} at its top level", file="the bundle")
        raise _refuse(problems)
    try:
        description = yaml.safe_load(members[YAML])
    except yaml.YAMLError as e:
        problems.add(f"not readable YAML: {e}", file=YAML)
        raise _refuse(problems) from None
    if not isinstance(description, dict):
        problems.add(f"must be a mapping (keys and values), not {type(description).__name__}", file=YAML)
        raise _refuse(problems)
    if description.get("format") != BUNDLE_FORMAT or description.get("format_version") != BUNDLE_VERSION:
        problems.add(
            f"not a {BUNDLE_FORMAT} of version {BUNDLE_VERSION} (format {echo(description.get('format'))}, "
            f"version {echo(description.get('format_version'))})",
            file=YAML,
            path="format",
        )
    checked = _Checked(description, members)
    _check_datasets(checked, problems)
    competition = description.get("competition")
    if not isinstance(competition, dict):
        problems.add("'competition' must be a mapping", file=YAML, path="competition")
        raise _refuse(problems)
    _metric_problems(competition, problems)
    if competition.get("starts_at") is None:
        problems.add("the competition needs its start", file=YAML, path="competition.starts_at")
    _check_holder(competition, "competition", checked, problems, needs_dataset=True)
    pretrain = competition.get("pretrain_datasets") or []
    if not isinstance(pretrain, list):
        problems.add("a list of datasets", file=YAML, path="competition.pretrain_datasets")
    else:
        for i, ref in enumerate(pretrain):
            if _key(ref) not in checked.datasets:
                problems.add(
                    f"the dataset {echo(ref)} is not one of the bundle's datasets",
                    file=YAML,
                    path=f"competition.pretrain_datasets[{i}]",
                )
    phases = description.get("phases") or []
    if not isinstance(phases, list) or not all(isinstance(p, dict) for p in phases):
        problems.add("'phases' must be a list of mappings", file=YAML, path="phases")
    else:
        for i, phase in enumerate(phases):
            _check_holder(phase, f"phases[{i}]", checked, problems, needs_dataset=False)
    target = slug or competition.get("slug")
    if not isinstance(target, str) or not target:
        problems.add("the competition needs a slug", file=YAML, path="competition.slug")
    elif Competition.objects.filter(slug=target).exists():
        problems.add(
            f"a competition '{target}' exists already on this server; import under another slug with ?slug=",
            path="slug",
        )
    if problems:
        raise _refuse(problems)
    return checked


def _dataset_for(entry: dict, stored: services.StoredFiles) -> Dataset:
    """An identical version already here (same files by sha256), else a new version."""
    wanted = {name: hashlib.sha256(data).hexdigest() for name, data in entry["contents"].items()}
    for candidate in Dataset.objects.filter(slug=entry["slug"]).order_by("-version"):
        have = dict(DatasetFile.objects.filter(dataset=candidate).values_list("name", "sha256"))
        if have == wanted:
            return candidate
    version = entry["version"]
    if Dataset.objects.filter(slug=entry["slug"], version=version).exists():
        version = services.dataset_next_version(slug=entry["slug"])
    manifest = {
        **entry["manifest"],
        "slug": entry["slug"],
        "version": version,
        "task_type": entry["task_type"],
    }
    for name in ("title", "description", "license"):
        if isinstance(entry.get(name), str):
            manifest[name] = entry[name]
    source = entry.get("source") if entry.get("source") in Dataset.Source.values else Dataset.Source.UPLOAD
    dataset = services.dataset_create_from_bundle(
        bundle=DatasetBundle(files=dict(entry["contents"]), manifest=manifest, hidden=set(entry["hidden"])),
        source=source,
    )
    stored.names.extend(f.file.name for f in dataset.files.all())
    return dataset


def _datetimes(values: dict) -> dict:
    return {k: (_datetime(v) if k in DATETIME_FIELDS and v is not None else v) for k, v in values.items()}


def _field_problems(exc: ValidationError, where: str, problems: ProblemList) -> None:
    for field, messages in exc.message_dict.items():
        for message in messages:
            problems.add(message, file=YAML, path=f"{where}.{field}")


@transaction.atomic
def competition_import(*, data: bytes, actor, slug: str | None = None, limits: ZipLimits = ZipLimits()):
    """Import a bundle: its datasets (reused when identical), the competition under `slug` (the
    bundle's own by default), its phases and answer keys exactly as exported. Raises
    BundleInvalid listing every problem; nothing is stored then."""
    checked = bundle_check(data=data, slug=slug, limits=limits)
    described = checked.description["competition"]
    problems = ProblemList()
    with services.StoredFiles() as stored:
        try:
            datasets = {key: _dataset_for(entry, stored) for key, entry in checked.datasets.items()}
        except ValidationError as exc:
            _field_problems(exc, "datasets", problems)
            raise _refuse(problems) from None
        fields = _datetimes({k: described[k] for k in COMPETITION_FIELDS if k in described})
        fields.pop("task_type", None)
        fields["slug"] = slug or fields.get("slug")
        dataset = datasets[_key(described["dataset"])]
        competition = Competition(
            **fields,
            dataset=dataset,
            task_type=dataset.task_type,
            higher_is_better=METRICS[described["metric"]].higher_is_better,
            created_by=actor,
        )
        try:
            services.competition_validate(competition=competition)
        except ValidationError as exc:
            _field_problems(exc, "competition", problems)
            raise _refuse(problems) from None
        competition.save()
        competition.pretrain_datasets.set(
            [datasets[_key(ref)] for ref in described.get("pretrain_datasets") or []]
        )
        _store_key(competition, described["_answer_key"], "competition", stored, problems)
        _phases_import(competition, checked, datasets, stored, problems)
        if problems:  # raised inside the transaction: every row rolls back, every file is deleted
            raise _refuse(problems)
        audit_record(
            competition=competition,
            actor=actor,
            action="competition_import",
            target=f"competition {competition.slug}",
            data={
                "from_slug": described.get("slug"),
                "datasets": [f"{d.slug} v{d.version}" for d in datasets.values()],
            },
        )
    return competition


def _store_key(holder, data: bytes, where: str, stored: services.StoredFiles, problems: ProblemList) -> None:
    from datasets.answer_key import AnswerKeyError

    try:
        services.answer_key_store_exact(holder=holder, data=data)
    except ValidationError as exc:
        _field_problems(exc, where, problems)
        return
    except (AnswerKeyError, ValueError, KeyError) as exc:
        problems.add(f"the answer key does not fit its dataset: {exc}", file=YAML, path=f"{where}.answer_key")
        return
    stored.names.append(holder.answer_key.name)


def _phases_import(competition, checked: _Checked, datasets, stored, problems: ProblemList) -> None:
    entries = sorted(checked.description.get("phases") or [], key=lambda p: p.get("number") or 0)
    if not entries:
        services.phase_create_default(competition=competition)
        return
    made: list[Phase] = []
    for i, entry in enumerate(entries):
        fields = _datetimes({k: entry[k] for k in PHASE_FIELDS if k in entry})
        fields["number"] = i + 1
        ref = entry.get("dataset")
        phase = Phase(competition=competition, dataset=datasets[_key(ref)] if ref else None, **fields)
        try:
            services.phase_validate(competition, phase, made)
        except services.PhaseInvalid as exc:
            for problem in exc.problems:
                problems.add(f"{exc.detail} {problem.message}", file=YAML, path=f"phases[{i}].{problem.path}")
            continue
        except (TypeError, ValueError) as exc:
            problems.add(str(exc), file=YAML, path=f"phases[{i}]")
            continue
        phase.save()
        made.append(phase)
        if entry.get("_answer_key") is not None:
            _store_key(phase, entry["_answer_key"], f"phases[{i}]", stored, problems)
