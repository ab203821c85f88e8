"""Admin forms: the dataset upload (validated by datasets.upload) and the competition form."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from datasets.categorical import split_columns
from datasets.metrics import METRICS
from podium.competitions.metric_choice import metrics_problems
from podium.competitions.models import Competition, TaskType, metric_choices
from podium.competitions.selectors import dataset_latest_version

NEW_VERSION_LABEL = "Store as a new version of an existing dataset"


def existing_slug_error(slug: str | None, new_version: bool) -> str | None:
    """An upload under a slug that exists stores a new version of that dataset: only when
    asked for. Returns the message for the slug field, or None."""
    if not slug:
        return None
    latest = dataset_latest_version(slug=slug)
    if latest is None and new_version:
        return f"No dataset has the slug “{slug}” yet: untick “{NEW_VERSION_LABEL}” to create it."
    if latest is not None and not new_version:
        return (
            f"A dataset “{slug}” exists (v{latest}). Tick “{NEW_VERSION_LABEL}” to store this "
            f"upload as v{latest + 1}, or choose another slug."
        )
    return None


class DatasetUploadForm(forms.Form):
    train_file = forms.FileField(
        allow_empty_file=True, help_text="train.csv: an id column, the features and the target."
    )
    test_file = forms.FileField(
        required=False,
        allow_empty_file=True,
        help_text="test.csv with its labels (they stay hidden). Leave empty to hold out a fraction of train.",
    )
    slug = forms.SlugField(max_length=64, help_text="Lower-case letters, digits and dashes.")
    new_version = forms.BooleanField(required=False, label=NEW_VERSION_LABEL)
    title = forms.CharField(max_length=200)
    task_type = forms.ChoiceField(choices=TaskType.choices)
    target_column = forms.CharField(max_length=100)
    id_column = forms.CharField(max_length=100, initial="id")
    test_fraction = forms.FloatField(required=False, min_value=0.01, max_value=0.99)
    split_seed = forms.IntegerField(initial=0, min_value=0)
    metric = forms.ChoiceField(
        required=False,
        choices=[("", "default for the task")] + [(name, m.title) for name, m in METRICS.items()],
    )
    description = forms.CharField(widget=forms.Textarea, required=False)
    license = forms.CharField(max_length=200, required=False)
    categorical_columns = forms.CharField(
        max_length=2000, required=False, help_text="Feature columns holding category names, comma-separated."
    )
    text_column = forms.CharField(
        max_length=100,
        required=False,
        help_text="For a text dataset: the column of texts (the files then hold id, text and label).",
    )
    vocab_size = forms.IntegerField(
        required=False, help_text="Text: the tokenizer's vocabulary size (64 to 65,536; default 8,000)."
    )
    max_length = forms.IntegerField(
        required=False, help_text="Text: tokens kept per text (4 to 1,024; default 128)."
    )
    truncate = forms.BooleanField(
        required=False, help_text="Text: cut over-long texts instead of refusing them."
    )

    def __init__(self, *args, too_large: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_large = too_large or []

    def clean(self):
        cleaned = super().clean()
        for field in self.too_large:
            self.add_error(field, "The file is larger than the upload limit; it was not stored.")
        slug_error = existing_slug_error(cleaned.get("slug"), bool(cleaned.get("new_version")))
        if slug_error:
            self.add_error("slug", slug_error)
        cleaned["categorical_columns"] = split_columns(cleaned.get("categorical_columns"))
        return cleaned


class ImageDatasetUploadForm(forms.Form):
    """The image upload: a zip of PNG/JPEG files named by id, and id,label CSVs (datasets.images)."""

    images_file = forms.FileField(
        allow_empty_file=True,
        help_text="images.zip: PNG or JPEG files named <id>.png or <id>.jpg, in any folders.",
    )
    train_file = forms.FileField(allow_empty_file=True, help_text="train.csv: id,label.")
    test_file = forms.FileField(
        required=False,
        allow_empty_file=True,
        help_text="test.csv: id,label (the labels stay hidden). Leave empty to hold out a fraction of train.",
    )
    slug = forms.SlugField(max_length=64)
    new_version = forms.BooleanField(required=False, label=NEW_VERSION_LABEL)
    title = forms.CharField(max_length=200)
    task_type = forms.ChoiceField(choices=TaskType.choices, initial="classification")
    target_column = forms.CharField(max_length=100, initial="label")
    id_column = forms.CharField(max_length=100, initial="id")
    test_fraction = forms.FloatField(required=False, min_value=0.01, max_value=0.99)
    split_seed = forms.IntegerField(initial=0, min_value=0)
    resize_height = forms.IntegerField(
        required=False, min_value=1, max_value=512, help_text="Optional resize, with the width."
    )
    resize_width = forms.IntegerField(required=False, min_value=1, max_value=512)
    metric = forms.ChoiceField(
        required=False,
        choices=[("", "default for the task")] + [(name, m.title) for name, m in METRICS.items()],
    )
    description = forms.CharField(widget=forms.Textarea, required=False)
    license = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, too_large: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_large = too_large or []

    def clean(self):
        cleaned = super().clean()
        for field in self.too_large:
            self.add_error(field, "The file is larger than the upload limit; it was not stored.")
        slug_error = existing_slug_error(cleaned.get("slug"), bool(cleaned.get("new_version")))
        if slug_error:
            self.add_error("slug", slug_error)
        return cleaned


FROZEN_AFTER_CREATION = ("dataset", "slug", "metric", "extra_metrics", "split_seed", "public_fraction")


class CompetitionAdminForm(forms.ModelForm):
    extra_metrics = forms.MultipleChoiceField(
        choices=metric_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Other metrics shown as columns on the boards, the API, the CSV export and the CLI; "
        "the primary metric alone ranks. Fixed at creation.",
    )

    class Meta:
        model = Competition
        exclude = [
            "task_type",
            "higher_is_better",
            "answer_key",
            "answer_key_sha256",
            "n_public",
            "n_private",
            "private_revealed_at",
            "created_by",
        ]

    def clean(self):
        cleaned = super().clean()
        dataset = cleaned.get("dataset") or getattr(self.instance, "dataset", None)
        metric = cleaned.get("metric") or self.instance.metric
        if dataset is not None and metric in METRICS and "extra_metrics" in self.fields:
            problems = metrics_problems(
                dataset=dataset, metric=metric, extra_metrics=cleaned.get("extra_metrics") or []
            )
            for field, message in problems.items():
                self.add_error(field, message)
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends and starts >= ends:
            self.add_error("ends_at", "The competition must end after it starts.")
        if not (cleaned.get("accepts_predictions") or cleaned.get("accepts_configs")):
            raise ValidationError("Accept prediction files, model configs, or both.")
        return cleaned
