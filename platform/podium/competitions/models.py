from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from common.protocol import MAX_VARIANTS
from datasets.metrics import METRICS

# The largest daily lab quota an organiser may set (model-epochs per participant).
LAB_DAILY_EPOCHS_MAX = 1_000_000
# The default: a full ablation of the largest example once a day (pre-training + LoRA on the
# few-shot digits: 19 variants and the baseline at its 60-epoch budget).
LAB_DAILY_EPOCHS_DEFAULT = 1200


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"


def metric_choices() -> list[tuple[str, str]]:
    """Every metric of datasets.metrics.METRICS, where each is defined once; a new one needs
    no migration."""
    return [(metric.name, metric.title) for metric in METRICS.values()]


def dataset_file_path(instance: DatasetFile, filename: str) -> str:
    # One folder per version keeps a version's files together and never overwrites another's.
    return f"datasets/{instance.dataset.slug}/v{instance.dataset.version}/{filename}"


def answer_key_path(instance: Competition, filename: str) -> str:
    return f"answer_keys/{instance.slug}/{filename}"


class Dataset(models.Model):
    """One version of a benchmark dataset: files plus a manifest (see datasets.manifest)."""

    class Source(models.TextChoices):
        BUILTIN = "builtin", "Built-in catalog"
        UPLOAD = "upload", "Uploaded"

    slug = models.SlugField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    license = models.CharField(max_length=200, blank=True)
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.BUILTIN)
    manifest = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="dataset_slug_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"


class DatasetFile(models.Model):
    """A file of a dataset version. Hidden files (test labels) are never served."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=100)  # train.csv, test.csv, sample_submission.csv, test_labels.csv
    file = models.FileField(upload_to=dataset_file_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    hidden = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="dataset_file_name_unique")]

    def __str__(self) -> str:
        return f"{self.dataset}/{self.name}"


class JoinPolicy(models.TextChoices):
    OPEN = "open", "Anyone may join"
    APPROVAL = "approval", "A host approves each request to join"
    INVITE = "invite", "Invited people only"


class Competition(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    overview = models.TextField(blank=True, help_text="Markdown; sanitised when shown.")
    rules = models.TextField(
        blank=True, help_text="Markdown: competition-specific rules shown before joining."
    )
    # Drafts are seen by staff only, so an admin can check a competition before announcing it.
    is_published = models.BooleanField(default=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="competitions")
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    metric = models.CharField(max_length=30, choices=metric_choices)
    higher_is_better = models.BooleanField()
    # More metrics shown as columns next to the primary one, which alone ranks; computed by
    # the scorer in the same pass and read from the same file (docs/leaderboard.md).
    extra_metrics = models.JSONField(
        default=list,
        blank=True,
        help_text="Other metrics shown as columns on the boards; the primary metric alone ranks.",
    )

    # The public/private partition of the test ids is fixed at creation (seeded) and stored.
    split_seed = models.PositiveIntegerField(default=0)
    public_fraction = models.FloatField(default=0.3)
    answer_key = models.FileField(upload_to=answer_key_path, blank=True, max_length=300)  # never served
    answer_key_sha256 = models.CharField(max_length=64, blank=True)
    n_public = models.PositiveIntegerField(default=0)
    n_private = models.PositiveIntegerField(default=0)

    # The whole competition's window; its phases divide it (competitions.phases). No end: a
    # permanent benchmark, whose last phase never closes.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    merger_deadline = models.DateTimeField(null=True, blank=True)
    # The rules' team size: team_join refuses a join or a merge past it (pages and API alike).
    max_team_size = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1)])
    daily_limit = models.PositiveIntegerField(default=5)
    total_limit = models.PositiveIntegerField(null=True, blank=True)
    max_final_picks = models.PositiveIntegerField(default=2)

    # Compute budget for model-config entries.
    budget_epochs = models.PositiveIntegerField(default=30)
    budget_params = models.PositiveBigIntegerField(default=5_000_000)
    budget_seconds = models.PositiveIntegerField(default=600)
    # The largest sweep or ensemble one entry may train (its variants share the budget above).
    max_variants = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_VARIANTS)],
        help_text="The most models one entry may train as a sweep or an ensemble (1: neither); "
        "its variants share the budget.",
    )
    # The lab's daily compute per participant (podium.lab): model-epochs of ablation runs,
    # each run counted at the budget's epochs, per UTC day. 0: ablations are off.
    lab_daily_epochs = models.PositiveIntegerField(
        default=LAB_DAILY_EPOCHS_DEFAULT,
        validators=[MaxValueValidator(LAB_DAILY_EPOCHS_MAX)],
        help_text="Ablation compute per participant per UTC day, in model-epochs (each ablation run "
        "counts the budget's epochs); 0 switches ablations off.",
    )

    accepts_predictions = models.BooleanField(default=True)
    accepts_configs = models.BooleanField(default=True)
    pretrain_datasets = models.ManyToManyField(Dataset, blank=True, related_name="+")

    join_policy = models.CharField(max_length=10, choices=JoinPolicy.choices, default=JoinPolicy.OPEN)

    ladder_enabled = models.BooleanField(default=False)
    ladder_step = models.FloatField(default=0.0)
    private_revealed_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "slug"]

    def __str__(self) -> str:
        return self.title


def phase_answer_key_path(instance: Phase, filename: str) -> str:
    return f"answer_keys/{instance.competition.slug}/phase-{instance.number}/{filename}"


class Phase(models.Model):
    """One stage of a competition (docs/leaderboard.md, "Phases").

    A setting left empty is the competition's: a competition made before phases existed
    has one phase with every setting empty and behaves as it did. A window bound left
    empty meets the neighbouring phase (or the competition's own bound)."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveSmallIntegerField()  # 1, 2, …: the phases' order
    slug = models.SlugField(max_length=64)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # After the phase's end: entries scored on both splits, ranked on a separate late board.
    late_entries = models.BooleanField(default=False)

    daily_limit = models.PositiveIntegerField(null=True, blank=True)
    total_limit = models.PositiveIntegerField(null=True, blank=True)
    max_final_picks = models.PositiveIntegerField(null=True, blank=True)
    accepts_predictions = models.BooleanField(null=True, blank=True)
    accepts_configs = models.BooleanField(null=True, blank=True)
    budget_epochs = models.PositiveIntegerField(null=True, blank=True)
    budget_params = models.PositiveBigIntegerField(null=True, blank=True)
    budget_seconds = models.PositiveIntegerField(null=True, blank=True)
    max_variants = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_VARIANTS)]
    )
    lab_daily_epochs = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(LAB_DAILY_EPOCHS_MAX)]
    )

    # The phase's own test split (a validation set for a development phase): a dataset whose
    # hidden labels build the phase's answer key. Empty: the competition's answer key.
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    split_seed = models.PositiveIntegerField(default=0)
    public_fraction = models.FloatField(null=True, blank=True)
    answer_key = models.FileField(upload_to=phase_answer_key_path, blank=True, max_length=300)  # never served
    answer_key_sha256 = models.CharField(max_length=64, blank=True)
    n_public = models.PositiveIntegerField(default=0)
    n_private = models.PositiveIntegerField(default=0)

    private_revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["competition", "number"]
        constraints = [
            models.UniqueConstraint(fields=["competition", "number"], name="phase_number_unique"),
            models.UniqueConstraint(fields=["competition", "slug"], name="phase_slug_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.competition_id}/{self.slug}"


class Participation(models.Model):
    """Joining a competition; the rules are accepted when joining."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    accepted_rules_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["competition", "user"], name="participation_unique")]


class CompetitionHost(models.Model):
    """A person who manages one competition (settings, dataset, participants, rescore,
    disqualification) without being site staff. Only site staff add or remove hosts."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="hosts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosting")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["competition", "user"], name="competition_host_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} hosts {self.competition}"


class JoinRequest(models.Model):
    """A request to join a competition whose hosts approve each participant."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="join_requests")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True, help_text="shown to the person when declined")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["competition", "user"], name="join_request_unique")]


class Invitation(models.Model):
    """An invitation to an invite-only competition; the invited person joins as usual."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["competition", "user"], name="invitation_unique")]


class AuditEvent(models.Model):
    """What a host or an admin did to a competition, its entries or its participants, and why.

    Written by the services that act (never by views), kept when the actor is deleted."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=200, blank=True, help_text="what was acted on, e.g. 'entry #12'")
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target} ({self.competition_id})"
