"""The callbacks of training workers (docs/architecture.md, "The worker protocol").

Only `Authorization: Worker <token>` is accepted here: a user's API token or
session never reaches these views, and a worker token opens only the submission
and the attempt it names.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.problems import echo
from common.protocol import MAX_VARIANTS, RUN_REPORT_MAX_NOTES
from podium.errors import ApplicationError, Conflict
from podium.submissions import selectors, services
from podium.submissions.tokens import SALT, InvalidWorkerToken, WorkerGrant, worker_token_read
from podium.submissions.uploads import RefusingUploadHandler
from podium.submissions.worker_payload import claim_payload


class WorkerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Worker"
    salt = SALT  # a lab run's callbacks read their own kind of token (podium.lab.worker_api)

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed worker token header: use 'Worker <token>'.")
        try:
            grant = worker_token_read(header[1].decode("ascii", errors="replace"), salt=self.salt)
        except InvalidWorkerToken as exc:
            raise exceptions.AuthenticationFailed(str(exc).capitalize() + ".")
        return AnonymousUser(), grant

    def authenticate_header(self, request):
        return self.keyword


class WorkerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "podium.submissions.worker_api.WorkerTokenAuthentication"
    match_subclasses = True
    name = "workerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Worker <token>`: the signed token of one attempt of a submission or a lab run.",
        }


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(min_value=1)


class HoldsTokenForThisSubmission(permissions.BasePermission):
    message = "This worker token is not for this submission."

    def has_permission(self, request, view):
        grant = request.auth
        if not isinstance(grant, WorkerGrant):
            raise exceptions.NotAuthenticated("Worker callbacks need 'Authorization: Worker <token>'.")
        return grant.submission_id == int(view.kwargs["submission_id"])


class LenientJSONParser(JSONParser):
    # A diverging run reports NaN/Infinity; they are stored as null instead of refusing the epoch.
    strict = False


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class WorkerApi(APIView):
    authentication_classes = [WorkerTokenAuthentication]
    permission_classes = [HoldsTokenForThisSubmission]
    parser_classes = [LenientJSONParser, FormParser, MultiPartParser]

    def attempt_of(self, request) -> int:
        """The body's attempt must be the token's: a token cannot speak for another attempt."""
        serializer = AttemptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attempt = serializer.validated_data["attempt"]
        if attempt != request.auth.attempt:
            raise exceptions.PermissionDenied(
                f"This worker token is for attempt {request.auth.attempt}, not attempt {attempt}."
            )
        return attempt


class WorkerClaimApi(WorkerApi):
    @extend_schema(request=AttemptSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, submission_id):
        attempt = self.attempt_of(request)
        submission = services.submission_claim(submission_id=submission_id, attempt=attempt)
        return Response(claim_payload(submission=submission, request=request))


def heartbeat_answer(beat: Callable[[], None]) -> Response:
    """A heartbeat's answer: go on, or stop (409) with the reason the beat was refused."""
    try:
        beat()
    except Conflict as exc:
        return Response({"continue": False, "detail": exc.detail}, status=status.HTTP_409_CONFLICT)
    return Response({"continue": True})


class WorkerHeartbeatApi(WorkerApi):
    @extend_schema(request=AttemptSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, submission_id):
        attempt = self.attempt_of(request)
        return heartbeat_answer(
            lambda: services.submission_heartbeat(submission_id=submission_id, attempt=attempt)
        )


class EpochRecordSerializer(serializers.Serializer):
    epoch = serializers.IntegerField(min_value=0, max_value=100_000)
    data = serializers.DictField()

    def validate_data(self, value):
        import json

        if len(json.dumps(value, default=str)) > 256 * 1024:
            raise serializers.ValidationError("Epoch data is larger than 256 KiB.")
        # A sweep's or an ensemble's model (common.protocol.EpochRecord.variant); absent: 0.
        variant = value.get("variant", 0)
        if isinstance(variant, bool) or not isinstance(variant, int) or not 0 <= variant < MAX_VARIANTS:
            raise serializers.ValidationError(
                f"'variant' must be a whole number from 0 to {MAX_VARIANTS - 1} (the entry's model), "
                f"not {echo(variant)}."
            )
        return _finite(value)


# Records a worker sends at once: the epochs that ended while its previous post was on its way.
MAX_EPOCH_RECORDS = 500


class EpochInputSerializer(serializers.Serializer):
    """One epoch (`epoch`, `data`) or several (`records`: a list of them), never both."""

    attempt = serializers.IntegerField(min_value=1)
    epoch = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    data = serializers.DictField(required=False)
    records = EpochRecordSerializer(many=True, required=False, max_length=MAX_EPOCH_RECORDS)

    def validate(self, attrs):
        one = "epoch" in attrs or "data" in attrs
        if one == ("records" in attrs):
            raise serializers.ValidationError(
                "Send one epoch ('epoch' and 'data') or several ('records'), not both and not neither."
            )
        if one:
            record = EpochRecordSerializer(data={"epoch": attrs.get("epoch"), "data": attrs.get("data")})
            if not record.is_valid():
                raise serializers.ValidationError(record.errors)
            attrs["records"] = [record.validated_data]
        elif not attrs["records"]:
            raise serializers.ValidationError({"records": "The list of epoch records is empty."})
        return attrs


def epoch_records(data) -> list[dict]:
    """The records of an epochs post, checked (`EpochInputSerializer`): each `{"epoch",
    "variant", "data"}`, the variant taken out of the data (0 when absent)."""
    serializer = EpochInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    records = []
    for record in serializer.validated_data["records"]:
        fields = dict(record["data"])
        records.append({"epoch": record["epoch"], "variant": fields.pop("variant", 0), "data": fields})
    return records


class WorkerEpochApi(WorkerApi):
    @extend_schema(request=EpochInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, submission_id):
        attempt = self.attempt_of(request)
        records = epoch_records(request.data)
        services.submission_record_epochs(submission_id=submission_id, attempt=attempt, records=records)
        return Response({"ok": True, "stored": len(records)})


class RunEnvironmentSerializer(serializers.Serializer):
    torch = serializers.CharField(max_length=64)
    device = serializers.CharField(max_length=200)
    threads = serializers.IntegerField(min_value=1, max_value=4096)
    precision = serializers.ChoiceField(choices=["fp32", "bf16"])
    precision_asked = serializers.ChoiceField(choices=["fp32", "bf16"])


class MetricRefSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    value = serializers.FloatField(allow_null=True)


class VariantOutcomeSerializer(serializers.Serializer):
    """`common.protocol.VariantOutcome`: how one model of a sweep or an ensemble ended."""

    index = serializers.IntegerField(min_value=0, max_value=MAX_VARIANTS - 1)
    label = serializers.CharField(max_length=200, allow_blank=True)
    stopped_reason = serializers.CharField(max_length=40, required=False)
    epochs_run = serializers.IntegerField(min_value=0, required=False)
    val_metric = MetricRefSerializer(required=False, allow_null=True)
    val_loss = serializers.FloatField(required=False, allow_null=True)
    error = serializers.CharField(max_length=500, required=False)


class VariantsReportSerializer(serializers.Serializer):
    """`common.protocol.VariantsReport`: what an entry did with its models."""

    kind = serializers.ChoiceField(choices=["sweep", "ensemble"])
    select = serializers.ChoiceField(choices=["metric", "val_loss", "mean"])
    kept = serializers.IntegerField(min_value=0, max_value=MAX_VARIANTS - 1, allow_null=True)
    outcomes = VariantOutcomeSerializer(many=True, max_length=MAX_VARIANTS)


class RunReportSerializer(serializers.Serializer):
    """`common.protocol.RunReport`: where the run trained and how it ended."""

    environment = RunEnvironmentSerializer(required=False)
    stopped_reason = serializers.CharField(max_length=40, required=False)
    stop_message = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    notes = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=RUN_REPORT_MAX_NOTES, required=False
    )
    variants = VariantsReportSerializer(required=False)


def run_report_of(raw) -> dict | None:
    """The `report` field of a callback (a JSON text in a multipart body), validated; None when absent."""
    import json

    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApplicationError("The field 'report' is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise ApplicationError("The field 'report' must be a JSON object (common.protocol.RunReport).")
    serializer = RunReportSerializer(data=raw)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class WorkerPredictionsApi(WorkerApi):
    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [
            RefusingUploadHandler(request, max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES),
            TemporaryFileUploadHandler(request),
        ]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": OpenApiTypes.OBJECT}, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, submission_id):
        attempt = self.attempt_of(request)
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Send the predictions CSV as the multipart field 'file'.")
        services.submission_store_predictions(
            submission_id=submission_id,
            attempt=attempt,
            file=upload,
            weights=request.FILES.get("weights"),
            report=run_report_of(request.data.get("report")),
        )
        return Response({"ok": True}, status=status.HTTP_202_ACCEPTED)


class FailInputSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(min_value=1)
    message = serializers.CharField(allow_blank=True, max_length=20_000)
    report = RunReportSerializer(required=False)


class WorkerFailApi(WorkerApi):
    @extend_schema(request=FailInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, submission_id):
        attempt = self.attempt_of(request)
        serializer = FailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.submission_fail(
            submission_id=submission_id,
            attempt=attempt,
            message=serializer.validated_data["message"],
            report=serializer.validated_data.get("report"),
        )
        return Response({"ok": True})


class WorkerFileApi(WorkerApi):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, submission_id, dataset_slug, name):
        submission = selectors.submission_for_worker(submission_id=submission_id)
        dataset_file = selectors.worker_dataset_file(
            submission=submission, dataset_slug=dataset_slug, name=name
        )
        response = FileResponse(dataset_file.file.open("rb"), as_attachment=True, filename=dataset_file.name)
        response["X-Content-SHA256"] = dataset_file.sha256
        return response
