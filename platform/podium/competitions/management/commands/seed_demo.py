"""Load the demo content: every built-in dataset, one open competition per benchmark,
an admin and a demo participant. Running it again changes nothing."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from podium.competitions.demo import ADMIN, DEMO
from podium.competitions.models import Competition, Dataset

# The transfer target's competition lets entries pre-train on its source (a competition too).
PRETRAIN_FOR = {"digits-faded-fewshot": ["digits"]}
# Larger inputs get a larger budget, so a small CNN or LSTM fits.
BUDGETS = {
    "digits": {"budget_epochs": 40, "budget_params": 2_000_000, "budget_seconds": 600},
    "waveforms": {"budget_epochs": 40, "budget_params": 2_000_000, "budget_seconds": 600},
    "digits-faded-fewshot": {"budget_epochs": 60, "budget_params": 2_000_000, "budget_seconds": 600},
    # 18,000 reviews of up to 32 tokens: an LSTM or Transformer epoch takes tens of seconds on a CPU.
    "sentiment-structure": {"budget_epochs": 20, "budget_params": 2_000_000, "budget_seconds": 1200},
    # 5,000 colour images: the example CNN with augmentation (examples/shapes_cnn_augment.yaml)
    # trains its 40 epochs in about 6 minutes on one CPU thread.
    "shapes-32": {"budget_epochs": 40, "budget_params": 2_000_000, "budget_seconds": 3600},
}


def _overview(dataset: Dataset, metric: str) -> str:
    m = dataset.manifest
    shape = "×".join(str(n) for n in m.get("input_shape") or [])
    classes = m.get("classes")
    lines = [
        f"## {dataset.title}",
        "",
        dataset.description,
        "",
        f"- Task: **{dataset.task_type}**, input shape {shape}"
        + (f", {len(classes)} classes" if classes else ""),
        f"- Rows: {m['rows']['train']} for training, {m['rows']['test']} to predict",
        f"- Metric: **{metric}**; the public board uses part of the test set, the private board the rest",
        "",
        "Submit a predictions CSV in the format of `sample_submission.csv`, or a model config "
        "that Podium trains on its own hardware within the competition's budget.",
    ]
    if m.get("images"):
        lines += [
            "",
            "The images come as PNG files (`train_images.zip`, `test_images.zip`, named `<id>.png`) "
            "and decoded, as uint8 arrays N×C×H×W in CSV row order (`train_images.npy`, "
            "`test_images.npy`: `numpy.load(path, allow_pickle=False)`). A model config may augment "
            "its training batches (`train.augment`: crop, flip, colour jitter, cutout, mixup/cutmix).",
        ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Import the built-in datasets and create the demo competitions and users (idempotent)."

    def handle(self, *args, **options):
        from datasets import catalog
        from podium.accounts.models import User
        from podium.competitions import services

        datasets = {slug: services.dataset_import_builtin(slug=slug) for slug in catalog.BUILTINS}
        start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=7)
        created = 0
        for slug, entry in catalog.BUILTINS.items():
            if Competition.objects.filter(slug=slug).exists():
                continue
            dataset = datasets[slug]
            with transaction.atomic():
                services.competition_create(
                    dataset=dataset,
                    slug=slug,
                    title=entry.title,
                    overview=_overview(dataset, entry.metric),
                    metric=entry.metric,
                    starts_at=start,
                    ends_at=start + dt.timedelta(days=97),
                    split_seed=sum(map(ord, slug)),
                    pretrain_datasets=[datasets[p] for p in PRETRAIN_FOR.get(slug, [])],
                    **BUDGETS.get(slug, {}),
                )
            created += 1

        _admin, admin_new = self._user(User, *ADMIN, is_staff=True, is_superuser=True)
        demo, demo_new = self._user(User, *DEMO)
        digits = Competition.objects.filter(slug="digits").first()
        if digits is not None:
            services.competition_join(competition=digits, user=demo)

        self.stdout.write(
            f"Datasets: {len(datasets)}; competitions: {Competition.objects.count()} ({created} new)."
        )
        for new, (username, password), role in (
            (admin_new, ADMIN, "admin"),
            (demo_new, DEMO, "participant"),
        ):
            note = "" if new else " (existing account: password left as it was)"
            self.stdout.write(f"  {role:<11} username={username} password={password}{note}")

    def _user(self, User, username: str, password: str, **flags):
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user, False
        user = User(username=username, email=f"{username}@podium.local", **flags)
        user.set_password(password)
        user.save()
        return user, True
