"""REST API of a competition's phases: anyone who may see the competition reads them; staff
create, change and close them, with the admin's validation (competitions.services)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.protocol import MAX_VARIANTS
from podium.api_schema import error_responses
from podium.competitions import selectors, services
from podium.competitions.models import LAB_DAILY_EPOCHS_MAX, Dataset
from podium.competitions.phases import PhaseView
from podium.errors import ApplicationError


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


class PhaseOutput(serializers.Serializer):
    """A phase as it applies: every setting it leaves empty is shown as its competition's."""

    slug = serializers.CharField()
    number = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField(help_text="upcoming, open, late (taking late entries) or closed.")
    current = serializers.BooleanField(
        help_text="Where entries go and which board is shown when none is named."
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True, help_text="null: no end (a permanent benchmark).")
    late_entries = serializers.BooleanField(help_text="After the end, entries go to a separate late board.")
    daily_limit = serializers.IntegerField()
    total_limit = serializers.IntegerField(allow_null=True)
    max_final_picks = serializers.IntegerField()
    accepted_kinds = serializers.ListField(child=serializers.CharField())
    budget = serializers.DictField(child=serializers.IntegerField())
    own_test_split = serializers.BooleanField(help_text="Scored on its own dataset's hidden labels.")
    public_fraction = serializers.FloatField()
    revealed_at = serializers.DateTimeField(allow_null=True)


def phase_out(view: PhaseView, *, current: PhaseView, now) -> dict:
    kinds = [
        k for k, on in (("predictions", view.accepts_predictions), ("config", view.accepts_configs)) if on
    ]
    return {
        "slug": view.slug,
        "number": view.number,
        "title": view.title,
        "description": view.phase.description,
        "status": view.status(now),
        "current": view.pk == current.pk,
        "starts_at": _iso(view.starts_at),
        "ends_at": _iso(view.ends_at),
        "late_entries": view.late_entries,
        "daily_limit": view.daily_limit,
        "total_limit": view.total_limit,
        "max_final_picks": view.max_final_picks,
        "accepted_kinds": kinds,
        "budget": {
            "epochs": view.budget_epochs,
            "parameters": view.budget_params,
            "seconds": view.budget_seconds,
            "max_variants": view.max_variants,
            "lab_daily_epochs": view.lab_daily_epochs,
        },
        "own_test_split": bool(view.phase.answer_key_sha256),
        "public_fraction": view.public_fraction,
        "revealed_at": _iso(view.private_revealed_at),
    }


class PhaseWriteInput(serializers.Serializer):
    """A phase's settings. Left out on create: the competition's (a window bound: the
    neighbouring phase's). On update, only what is sent changes; null clears a setting back
    to the competition's."""

    slug = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    late_entries = serializers.BooleanField(required=False)
    daily_limit = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10_000)
    total_limit = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1_000_000)
    max_final_picks = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100)
    accepts_predictions = serializers.BooleanField(required=False, allow_null=True)
    accepts_configs = serializers.BooleanField(required=False, allow_null=True)
    budget_epochs = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100_000)
    budget_params = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10**12)
    budget_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10**7)
    max_variants = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_VARIANTS,
        help_text="The largest sweep or ensemble an entry may train (1: neither).",
    )
    lab_daily_epochs = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=LAB_DAILY_EPOCHS_MAX,
        help_text="Ablation model-epochs per participant per UTC day (0: ablations off).",
    )
    dataset = serializers.SlugField(
        required=False,
        help_text="Create only: a dataset whose hidden labels score this phase (its own test split).",
    )
    dataset_version = serializers.IntegerField(required=False, min_value=1, help_text="Default: the latest.")
    split_seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    public_fraction = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)


class PhaseUpdateInput(PhaseWriteInput):
    slug = serializers.SlugField(max_length=64, required=False)
    title = serializers.CharField(max_length=200, required=False)


class IsStaff(permissions.BasePermission):
    message = "Only staff may create, change or close phases."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class _PhaseView(APIView):
    # Reads are public (the competition's own visibility applies), writes are staff's; said
    # per method so that the schema documents reads as needing no authentication.
    def get_permissions(self):
        if self.request is not None and self.request.method in permissions.SAFE_METHODS:
            return [permissions.AllowAny()]
        return [IsStaff()]


def _dataset(slug: str, version: int | None) -> Dataset:
    qs = Dataset.objects.filter(slug=slug)
    if version is not None:
        qs = qs.filter(version=version)
    found = qs.order_by("-version").first()
    if found is None:
        named = f"'{slug}'" + (f" version {version}" if version is not None else "")
        raise ApplicationError(f"No dataset {named}.", code="unknown_dataset")
    return found


def _phases_answer(competition, *, code=status.HTTP_200_OK) -> Response:
    competition._phase_rows = None
    now = timezone.now()
    current = selectors.competition_phase(competition=competition, now=now)
    views = selectors.competition_phases(competition)
    return Response([phase_out(v, current=current, now=now) for v in views], status=code)


class PhaseListApi(_PhaseView):
    """GET the competition's phases (which is current, the windows); POST (staff) adds one after the last."""

    @extend_schema(responses=PhaseOutput(many=True))
    def get(self, request, slug: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        return _phases_answer(competition)

    @extend_schema(request=PhaseWriteInput, responses={201: PhaseOutput, **error_responses(400)})
    def post(self, request, slug: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        body = PhaseWriteInput(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        dataset_slug, version = fields.pop("dataset", None), fields.pop("dataset_version", None)
        dataset = _dataset(dataset_slug, version) if dataset_slug else None
        phase = services.phase_create(competition=competition, dataset=dataset, **fields)
        return _phase_answer(competition, phase.slug, code=status.HTTP_201_CREATED)


def _phase_answer(competition, phase_slug: str, *, code=status.HTTP_200_OK) -> Response:
    competition._phase_rows = None
    now = timezone.now()
    view = selectors.competition_phase(competition=competition, slug=phase_slug)
    current = selectors.competition_phase(competition=competition, now=now)
    return Response(phase_out(view, current=current, now=now), status=code)


class PhaseDetailApi(_PhaseView):
    """GET one phase (404 naming the phases for an unknown one); PATCH (staff) changes it."""

    @extend_schema(responses=PhaseOutput)
    def get(self, request, slug: str, phase: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        return _phase_answer(competition, phase)

    @extend_schema(request=PhaseUpdateInput, responses={200: PhaseOutput, **error_responses(400)})
    def patch(self, request, slug: str, phase: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        view = selectors.competition_phase(competition=competition, slug=phase)
        body = PhaseUpdateInput(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        if "dataset_version" in fields:  # the split is fixed: phase_update names it as such
            fields["dataset"] = fields.pop("dataset_version")
        updated = services.phase_update(phase=view.phase, **fields)
        return _phase_answer(competition, updated.slug)


class PhaseCloseApi(APIView):
    """POST (staff): end an open phase now (a rolling benchmark included). 409 when it is not open."""

    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={200: PhaseOutput, **error_responses(409)})
    def post(self, request, slug: str, phase: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        view = selectors.competition_phase(competition=competition, slug=phase)
        services.phase_close(phase=view.phase)
        return _phase_answer(competition, view.slug)
