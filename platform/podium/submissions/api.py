"""Participant-facing submission API: thin views over the services and selectors."""

from __future__ import annotations

import json

import django_filters
from django.http import FileResponse, Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.accounts.throttling import SettingRateThrottle
from podium.api_schema import error_responses
from podium.competitions.selectors import competition_phase
from podium.submissions import selectors, services
from podium.submissions.limits import submission_usage
from podium.submissions.models import Kind, Status, Submission
from podium.submissions.queue import queue_place
from podium.submissions.uploads import submission_upload_handlers
from podium.submissions.validation import submission_dry_run
from podium.teams.selectors import team_for


class SubmissionOutputSerializer(serializers.Serializer):
    # Declared field by field rather than as a ModelSerializer: building the fields from the
    # model costs a millisecond per response, a tenth of the intake's budget.
    id = serializers.IntegerField(read_only=True)
    competition = serializers.CharField(source="competition.slug", read_only=True)
    phase = serializers.CharField(
        source="phase.slug", read_only=True, help_text="The phase it was entered in."
    )
    is_late = serializers.BooleanField(
        read_only=True,
        help_text="Entered after the phase's end: on its late board, never in its final ranks.",
    )
    user = serializers.CharField(source="user.username", read_only=True)
    team = serializers.CharField(source="team.name", read_only=True, default=None, allow_null=True)
    kind = serializers.ChoiceField(choices=Kind.choices, read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    description = serializers.CharField(read_only=True)
    attempt = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    queued_at = serializers.DateTimeField(read_only=True, allow_null=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    heartbeat_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    public_score = serializers.FloatField(read_only=True, allow_null=True)
    public_ci = serializers.SerializerMethodField()
    # Withheld by the selectors (submissions_shown) unless private_scores_visible.
    private_score = serializers.FloatField(read_only=True, allow_null=True)
    # The competition's other metrics, withheld by the same rules: {name: {public, private}}.
    extra_scores = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField(allow_null=True)), read_only=True
    )
    error_message = serializers.CharField(read_only=True)
    # What the config validator warned about (the entry was accepted all the same).
    config_warnings = serializers.ListField(child=serializers.DictField(), read_only=True)
    disqualified_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="set when the hosts took this entry off every board"
    )
    disqualified_reason = serializers.CharField(
        read_only=True, help_text="the hosts' reason, shown to the authors"
    )
    has_predictions = serializers.SerializerMethodField()
    is_final_pick = serializers.BooleanField(
        read_only=True, help_text="Chosen by its entrant as a final pick for the private board."
    )
    scores_withheld = serializers.SerializerMethodField(
        help_text="Why a score is null although the entry is scored: 'ladder' (exact public scores are "
        "withheld until the private reveal), 'private' (private scores are shown after the reveal), or null."
    )

    @extend_schema_field(serializers.ListField(child=serializers.FloatField(), allow_null=True))
    def get_public_ci(self, obj):
        if obj.public_ci_low is None:
            return None
        return [obj.public_ci_low, obj.public_ci_high]

    def get_has_predictions(self, obj) -> bool:
        return bool(obj.predictions)

    @extend_schema_field(serializers.ChoiceField(choices=["ladder", "private"], allow_null=True))
    def get_scores_withheld(self, obj):
        return getattr(obj, "scores_withheld_reason", None)


class DailyLimitSerializer(serializers.Serializer):
    allowed = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class TotalLimitSerializer(serializers.Serializer):
    allowed = serializers.IntegerField(allow_null=True, help_text="null: no total limit")
    used = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)


class LimitsOutputSerializer(serializers.Serializer):
    """`podium.submissions.limits.SubmissionUsage.as_dict()`: what is left today and in total."""

    scope = serializers.ChoiceField(choices=["participant", "team"])
    daily = DailyLimitSerializer()
    total = TotalLimitSerializer()


class SubmissionCreatedOutputSerializer(SubmissionOutputSerializer):
    limits = LimitsOutputSerializer()


class QueuePlaceSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["waiting", "sent"])
    ahead = serializers.IntegerField()


class SubmissionDetailOutputSerializer(SubmissionOutputSerializer):
    config = serializers.JSONField(read_only=True)
    # common.protocol.RunReport: where the run trained (torch, device, threads, precision) and how it ended.
    training_report = serializers.JSONField(read_only=True, allow_null=True)
    epochs = serializers.SerializerMethodField()
    queue = serializers.SerializerMethodField(
        help_text="A queued model entry's place in the fair queue: `state` 'waiting' (its turn has "
        "not come; `ahead`: about how many entries go before it) or 'sent' (its message is out; "
        "`ahead`: entries sent before it and not yet started). null for any other entry."
    )

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_epochs(self, obj):
        # A sweep's or an ensemble's epochs say their model; an entry of one model's as before.
        if selectors.config_has_variants(obj.config):
            return [
                {"epoch": m.epoch, "variant": m.variant, **m.data} for m in selectors.submission_epochs(obj)
            ]
        return [{"epoch": m.epoch, **m.data} for m in selectors.submission_epochs(obj)]

    @extend_schema_field(QueuePlaceSerializer(allow_null=True))
    def get_queue(self, obj):
        place = queue_place(submission=obj)
        return place.as_dict() if place is not None else None


class SubmissionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    kind = django_filters.ChoiceFilter(choices=Kind.choices)

    class Meta:
        model = Submission
        fields = ["status", "kind"]


@extend_schema_field(OpenApiTypes.STR)
class ConfigField(serializers.Field):
    """A model config as YAML/JSON text, an uploaded text file, or (in a JSON body) an object."""

    default_error_messages = {
        "encoding": "The config file is not UTF-8 text.",
        "type": "Send the config as YAML or JSON text, a file, or a JSON object.",
    }

    def to_internal_value(self, data):
        if hasattr(data, "read"):
            try:
                return data.read().decode("utf-8")
            except UnicodeDecodeError:
                self.fail("encoding")
        if isinstance(data, str):
            return data
        if isinstance(data, dict):
            return json.dumps(data)
        self.fail("type")

    def to_representation(self, value):
        return value


class SubmissionInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, allow_empty_file=True)
    config = ConfigField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    phase = serializers.SlugField(
        required=False, max_length=64, help_text="A phase's slug; none: the current phase (GET …/phases/)."
    )


class ValidateOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    valid = serializers.BooleanField()
    parameters = serializers.IntegerField(
        required=False,
        help_text="A config's parameter count (of one model; an ensemble trains one per seed).",
    )
    epochs = serializers.IntegerField(
        required=False,
        help_text="A config's training epochs, all its variants' together (as the budget counts).",
    )
    variants = serializers.IntegerField(
        required=False, help_text="The models a config trains: a sweep's variants, an ensemble's seeds, or 1."
    )
    budget = serializers.DictField(
        required=False, help_text="The competition's budget: epochs, params, seconds, variants."
    )
    warnings = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="What a valid config probably should not do ({path, message}); it would be accepted.",
    )


class SubmissionPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class IntakeThrottle(SettingRateThrottle):
    """New entries per participant (`PODIUM_INTAKE_RATE`), refused before the body is read.
    The daily and total limits count entries; this bounds how fast they may come."""

    scope = "intake"
    rate_setting = "PODIUM_INTAKE_RATE"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class IntakeThrottled(exceptions.Throttled):
    default_detail = "Too many new entries in a short time."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


class SubmissionListCreateApi(GenericAPIView):
    """GET: your entries in this competition (admins: all). POST: a new entry."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [IntakeThrottle]
    pagination_class = SubmissionPagination
    serializer_class = SubmissionOutputSerializer
    filterset_class = SubmissionFilter

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body, so the cap applies while the upload streams in.
        if request.method == "POST":
            request.upload_handlers = submission_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    def throttled(self, request, wait):
        raise IntakeThrottled(wait=wait)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's pass: no competition in the URL
            return Submission.objects.none()
        competition = selectors.competition_for_submissions(slug=self.kwargs["slug"], user=self.request.user)
        return selectors.submission_list(competition=competition, user=self.request.user)

    @extend_schema(responses=SubmissionOutputSerializer(many=True))
    def get(self, request, slug):
        queryset = self.filter_queryset(self.get_queryset())
        page = selectors.submissions_shown(self.paginate_queryset(queryset), user=request.user)
        return self.get_paginated_response(SubmissionOutputSerializer(page, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": SubmissionInputSerializer,
            "application/json": SubmissionInputSerializer,
        },
        responses={201: SubmissionCreatedOutputSerializer},
    )
    def post(self, request, slug):
        competition = selectors.competition_for_submissions(slug=slug, user=request.user)
        serializer = SubmissionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        submission, usage = services.submission_create(
            competition=competition,
            user=request.user,
            predictions_file=data.get("file"),
            config_text=data.get("config"),
            description=data.get("description", ""),
            phase=data.get("phase"),
        )
        body = SubmissionOutputSerializer(submission).data
        body["limits"] = usage.as_dict()
        return Response(body, status=status.HTTP_201_CREATED)


class SubmissionValidateApi(APIView):
    """Validate an entry as the intake would, without storing it or counting it against a limit."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [IntakeThrottle]

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = submission_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    def throttled(self, request, wait):
        raise IntakeThrottled(wait=wait)

    @extend_schema(
        summary="Validate an entry without submitting it",
        description=(
            "Checks a predictions CSV (`file`) or a model config (`config`) against this competition "
            "exactly as the intake does: the file's ids and values, or the config's schema, shapes and "
            "the competition's budget. Nothing is stored and no limit is used. 200 with the config's "
            "parameter count and epochs; 400 with every problem, located."
        ),
        request={
            "multipart/form-data": SubmissionInputSerializer,
            "application/json": SubmissionInputSerializer,
        },
        responses={200: ValidateOutputSerializer},
    )
    def post(self, request, slug):
        competition = selectors.competition_for_submissions(slug=slug, user=request.user)
        serializer = SubmissionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        phase = competition_phase(competition=competition, slug=request.query_params.get("phase") or None)
        answer = submission_dry_run(
            phase=phase, predictions_file=data.get("file"), config_text=data.get("config")
        )
        return Response(answer)


class SubmissionLimitsApi(APIView):
    """How many entries you have left today and in total, and when the daily count resets."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=LimitsOutputSerializer)
    def get(self, request, slug):
        competition = selectors.competition_for_submissions(slug=slug, user=request.user)
        team = team_for(competition=competition, user=request.user)
        phase = competition_phase(competition=competition, slug=request.query_params.get("phase") or None)
        usage = submission_usage(phase=phase, user=request.user, team=team, now=timezone.now())
        return Response(usage.as_dict())


class SubmissionDetailApi(APIView):
    # Anyone may ask; the selector answers 404 to anyone but the owner, the team and admins.
    permission_classes = [AllowAny]

    @extend_schema(responses=SubmissionDetailOutputSerializer)
    def get(self, request, submission_id):
        submission = selectors.submission_get(
            submission_id=submission_id, user=request.user, with_epochs=True
        )
        return Response(SubmissionDetailOutputSerializer(submission).data)


class SubmissionCancelApi(APIView):
    # Anyone may ask; the selector answers 404 to anyone but the owner, the team and admins.
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: SubmissionOutputSerializer, **error_responses(409)})
    def post(self, request, submission_id):
        submission = selectors.submission_get(submission_id=submission_id, user=request.user)
        submission = services.submission_cancel(submission=submission)
        submission = selectors.submission_get(submission_id=submission.pk, user=request.user)
        return Response(SubmissionOutputSerializer(submission).data)


class SubmissionPredictionsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request, submission_id):
        submission = selectors.submission_get(submission_id=submission_id, user=request.user)
        if not submission.predictions:
            raise Http404("This entry has no predictions file yet.")
        return FileResponse(
            submission.predictions.open("rb"),
            as_attachment=True,
            filename=f"submission-{submission.pk}.csv",
            content_type="text/csv",
        )
