"""Forms of the staff "New competition" page: step 1 the dataset, step 2 the competition."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from common.protocol import MAX_VARIANTS
from podium.competitions.forms import NEW_VERSION_LABEL, existing_slug_error
from podium.competitions.models import (
    LAB_DAILY_EPOCHS_DEFAULT,
    LAB_DAILY_EPOCHS_MAX,
    TaskType,
    metric_choices,
)
from podium.competitions.selectors import competition_slug_taken

DT_FORMAT = "%Y-%m-%dT%H:%M"


def _builtin_choices():
    try:
        from datasets.catalog import BUILTINS
    except ImportError:
        return []
    return [(slug, f"{entry.title} ({slug})") for slug, entry in BUILTINS.items()]


class DatasetStepForm(forms.Form):
    source = forms.ChoiceField(
        choices=[
            ("upload", "Upload CSV files"),
            ("images", "Upload images (zip)"),
            ("builtin", "Built-in benchmark"),
        ],
        widget=forms.RadioSelect,
        initial="upload",
    )
    builtin = forms.ChoiceField(choices=(), required=False, label="Built-in dataset")
    images_file = forms.FileField(
        required=False,
        label="images.zip",
        help_text="PNG or JPEG files named by their id (<id>.png, <id>.jpg), in any folders. "
        "train.csv and test.csv are then two columns: the id and the label.",
    )
    resize_height = forms.IntegerField(
        required=False, min_value=1, max_value=512, help_text="Optional: resize every image to this height…"
    )
    resize_width = forms.IntegerField(
        required=False, min_value=1, max_value=512, help_text="…and this width."
    )
    train_file = forms.FileField(
        required=False, label="train.csv", help_text="Ids, features and the target column."
    )
    test_file = forms.FileField(
        required=False,
        label="test.csv (with its labels)",
        help_text="Optional. The labels are split off, hidden and never served. Without it, a share of train.csv becomes the test set.",
    )
    slug = forms.SlugField(required=False, max_length=64, help_text="Lower-case letters, digits and dashes.")
    new_version = forms.BooleanField(required=False, label=NEW_VERSION_LABEL)
    title = forms.CharField(required=False, max_length=200)
    task_type = forms.ChoiceField(choices=TaskType.choices, required=False)
    target_column = forms.CharField(required=False, max_length=100, initial="target")
    id_column = forms.CharField(required=False, max_length=100, initial="id")
    test_fraction = forms.FloatField(required=False, min_value=0.05, max_value=0.9, initial=0.25)
    license = forms.CharField(required=False, max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    categorical_columns = forms.CharField(
        required=False, max_length=2000, help_text="Feature columns holding category names, comma-separated."
    )
    text_column = forms.CharField(
        required=False,
        max_length=100,
        help_text="For a text dataset: the column of texts (the files then hold id, text and label columns).",
    )
    vocab_size = forms.IntegerField(
        required=False,
        label="Vocabulary size",
        help_text="Text: the tokenizer's vocabulary (64 to 65,536; default 8,000).",
    )
    max_length = forms.IntegerField(
        required=False,
        label="Maximum length",
        help_text="Text: tokens kept per text (4 to 1,024; default 128).",
    )
    truncate = forms.BooleanField(
        required=False, help_text="Text: cut over-long texts instead of refusing them."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["builtin"].choices = [("", "— choose —"), *_builtin_choices()]

    def clean(self):
        data = super().clean()
        if data.get("source") == "builtin":
            if not data.get("builtin"):
                self.add_error("builtin", "Choose a built-in dataset.")
            return data
        required = ["train_file", "slug", "title", "task_type", "target_column"]
        if data.get("source") == "images":
            required.insert(0, "images_file")
            if (data.get("resize_height") is None) != (data.get("resize_width") is None):
                self.add_error(
                    "resize_width", "Give both the height and the width of the resize, or neither."
                )
        for name in required:
            if not data.get(name):
                self.add_error(name, "Required for an upload.")
        slug_error = existing_slug_error(data.get("slug"), bool(data.get("new_version")))
        if slug_error:
            self.add_error("slug", slug_error)
        return data


def metric_choices_for(dataset) -> list[tuple[str, str]]:
    """The metrics of datasets.metrics that fit the dataset: its task type, and a class list
    where the metric needs probabilities per class."""
    from datasets.metrics import METRICS

    has_classes = bool((dataset.manifest or {}).get("classes"))
    return [
        (name, title)
        for name, title in metric_choices()
        if METRICS[name].task_type == dataset.task_type and (has_classes or not METRICS[name].needs_proba)
    ]


class CompetitionStepForm(forms.Form):
    slug = forms.SlugField(max_length=64)
    title = forms.CharField(max_length=200)
    metric = forms.ChoiceField(choices=metric_choices)
    starts_at = forms.DateTimeField(
        input_formats=[DT_FORMAT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DT_FORMAT),
        help_text="UTC",
    )
    ends_at = forms.DateTimeField(
        input_formats=[DT_FORMAT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DT_FORMAT),
        help_text="UTC",
    )
    overview = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), help_text="Markdown."
    )
    rules = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Markdown.")
    public_fraction = forms.FloatField(min_value=0.05, max_value=0.95, initial=0.3)
    daily_limit = forms.IntegerField(min_value=1, max_value=1000, initial=5)
    max_final_picks = forms.IntegerField(min_value=1, max_value=20, initial=2)
    budget_epochs = forms.IntegerField(min_value=1, max_value=1000, initial=30)
    budget_params = forms.IntegerField(min_value=1_000, max_value=1_000_000_000, initial=5_000_000)
    budget_seconds = forms.IntegerField(min_value=10, max_value=86_400, initial=600)
    max_team_size = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=5,
        label="Team size",
        help_text="The most members a team may have.",
    )
    max_variants = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_VARIANTS,
        initial=1,
        label="Largest sweep or ensemble",
        help_text="The most models one entry may train (1: neither); they share the budget.",
    )
    lab_daily_epochs = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=LAB_DAILY_EPOCHS_MAX,
        initial=LAB_DAILY_EPOCHS_DEFAULT,
        label="Ablation compute a day",
        help_text="Model-epochs of ablation runs per participant per UTC day; 0 switches ablations off.",
    )
    accepts_predictions = forms.BooleanField(required=False, initial=True, label="Accept prediction files")
    accepts_configs = forms.BooleanField(required=False, initial=True, label="Accept model configs")
    is_published = forms.BooleanField(required=False, initial=True, label="Publish now (visible to everyone)")

    def __init__(self, *args, dataset=None, **kwargs):
        super().__init__(*args, **kwargs)
        if dataset is not None:
            # Only the metrics that can score this dataset (no RMSE for a classification).
            self.fields["metric"].choices = metric_choices_for(dataset)

    def clean(self):
        """Every rule the service checks, in the same round as the fields' own: a form that
        comes back shows all its errors at once."""
        data = super().clean()
        # Left empty: the competition's defaults (an older form posted without them).
        if "max_variants" in data and data["max_variants"] is None:
            data["max_variants"] = 1
        if "lab_daily_epochs" in data and data["lab_daily_epochs"] is None:
            data["lab_daily_epochs"] = LAB_DAILY_EPOCHS_DEFAULT
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and starts >= ends:
            self.add_error("ends_at", "The competition must end after it starts.")
        if not (data.get("accepts_predictions") or data.get("accepts_configs")):
            self.add_error("accepts_predictions", "Accept prediction files, model configs, or both.")
        if data.get("slug") and competition_slug_taken(slug=data["slug"]):
            self.add_error("slug", f"A competition with the slug “{data['slug']}” exists; choose another.")
        return data

    @classmethod
    def initial_for(cls, dataset) -> dict:
        now = timezone.now().replace(second=0, microsecond=0)
        metric = (dataset.manifest or {}).get("metric") or (
            "accuracy" if dataset.task_type == "classification" else "rmse"
        )
        return {
            "slug": dataset.slug,
            "title": dataset.title,
            "metric": metric,
            "starts_at": now,
            "ends_at": now + timedelta(days=30),
            "overview": f"# {dataset.title}\n\n{dataset.description}",
        }
