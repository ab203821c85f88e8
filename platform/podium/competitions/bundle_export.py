"""A competition as one zip, to move it to another server (docs/operations.md, "Bundles").

`competition.yaml` describes the competition, its phases and its datasets; every file
(each dataset version's files, hidden ones included, and the stored answer keys: the
competition's and each phase's own) lies beside it, named in the YAML with its sha256.
The bundle holds hidden labels: only the API view that checked the asker manages this
competition (selectors.competition_get_managed) calls this.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile

import yaml

from podium.competitions.models import Competition, Dataset, Phase
from podium.competitions.selectors import answer_key_bytes
from podium.competitions.services import PHASE_FIELDS as PHASE_SETTINGS

BUNDLE_FORMAT = "podium-competition-bundle"
BUNDLE_VERSION = 1
DESCRIPTION_NAME = "competition.yaml"

# What a bundle carries of a competition and of a phase; the rest (who made it, when the
# private board was revealed, the answer key's counts) belongs to the server it ran on.
COMPETITION_FIELDS = (
    "slug",
    "title",
    "overview",
    "rules",
    "is_published",
    "task_type",
    "metric",
    "extra_metrics",
    "split_seed",
    "public_fraction",
    "starts_at",
    "ends_at",
    "merger_deadline",
    "max_team_size",
    "daily_limit",
    "total_limit",
    "max_final_picks",
    "budget_epochs",
    "budget_params",
    "budget_seconds",
    "max_variants",
    "lab_daily_epochs",
    "accepts_predictions",
    "accepts_configs",
    "join_policy",
    "ladder_enabled",
    "ladder_step",
)
# A phase in a bundle: its number, what its organiser sets, and what its answer key depends on.
PHASE_FIELDS = ("number", *PHASE_SETTINGS, "split_seed", "public_fraction")
DATETIME_FIELDS = frozenset({"starts_at", "ends_at", "merger_deadline"})


def dataset_ref(dataset: Dataset | None) -> dict | None:
    return None if dataset is None else {"slug": dataset.slug, "version": dataset.version}


def dataset_file_path(slug: str, version: int, name: str) -> str:
    return f"datasets/{slug}/v{version}/{name}"


def bundle_filename(competition: Competition) -> str:
    return f"{competition.slug}-bundle.zip"


def _plain(value):
    # ISO text, not a YAML timestamp: safe_load reads it back exactly, with its offset.
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _read(field) -> bytes:
    with field.open("rb") as fh:
        return fh.read()


def _answer_key_entry(holder: Competition | Phase, path: str, files: dict[str, bytes]) -> dict | None:
    if not holder.answer_key:
        return None
    data = answer_key_bytes(holder)
    files[path] = data
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest()}


def _dataset_entry(dataset: Dataset, files: dict[str, bytes]) -> dict:
    entries = []
    for row in dataset.files.all().order_by("name"):
        path = dataset_file_path(dataset.slug, dataset.version, row.name)
        data = _read(row.file)
        files[path] = data
        entries.append(
            {
                "name": row.name,
                "path": path,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "hidden": row.hidden,
            }
        )
    return {
        "slug": dataset.slug,
        "version": dataset.version,
        "title": dataset.title,
        "description": dataset.description,
        "license": dataset.license,
        "task_type": dataset.task_type,
        "source": dataset.source,
        "manifest": dataset.manifest,
        "files": entries,
    }


def competition_bundle(*, competition: Competition, now: dt.datetime | None = None) -> bytes:
    """The zip of `competition`: its description and every file it needs to be scored the same."""
    files: dict[str, bytes] = {}
    phases = list(competition.phases.select_related("dataset").order_by("number"))
    pretrain = list(competition.pretrain_datasets.order_by("slug", "version"))
    datasets: dict[int, Dataset] = {competition.dataset_id: competition.dataset}
    for dataset in [*(p.dataset for p in phases if p.dataset is not None), *pretrain]:
        datasets.setdefault(dataset.pk, dataset)

    described = {name: _plain(getattr(competition, name)) for name in COMPETITION_FIELDS}
    described["dataset"] = dataset_ref(competition.dataset)
    described["pretrain_datasets"] = [dataset_ref(d) for d in pretrain]
    described["answer_key"] = _answer_key_entry(competition, "answer_keys/competition.csv", files)
    phase_entries = []
    for phase in phases:
        entry = {name: _plain(getattr(phase, name)) for name in PHASE_FIELDS}
        entry["dataset"] = dataset_ref(phase.dataset)
        entry["answer_key"] = _answer_key_entry(phase, f"answer_keys/phase-{phase.number}.csv", files)
        phase_entries.append(entry)
    description = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "exported_at": _plain(now or dt.datetime.now(dt.UTC)),
        "competition": described,
        "phases": phase_entries,
        "datasets": [_dataset_entry(d, files) for d in datasets.values()],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(DESCRIPTION_NAME, yaml.safe_dump(description, sort_keys=False, allow_unicode=True))
        for path, data in files.items():
            archive.writestr(path, data)
    return out.getvalue()
