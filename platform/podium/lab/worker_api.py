"""The callbacks of training workers for lab runs: an entry's callbacks (podium.submissions.
worker_api) under `/api/worker/lab-runs/{id}/`, with the same bodies, answers, serializers and
idempotency, and tokens of their own kind (podium.lab.tokens)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response

from podium.errors import ApplicationError
from podium.lab import services
from podium.lab.models import LabRun
from podium.lab.tokens import LAB_SALT
from podium.lab.worker_payload import lab_claim_payload, lab_datasets
from podium.submissions.selectors import public_dataset_file
from podium.submissions.tokens import WorkerGrant
from podium.submissions.uploads import RefusingUploadHandler
from podium.submissions.worker_api import (
    AttemptSerializer,
    EpochInputSerializer,
    FailInputSerializer,
    WorkerApi,
    WorkerTokenAuthentication,
    epoch_records,
    heartbeat_answer,
    run_report_of,
)


class LabWorkerTokenAuthentication(WorkerTokenAuthentication):
    salt = LAB_SALT


class HoldsTokenForThisRun(permissions.BasePermission):
    message = "This worker token is not for this lab run."

    def has_permission(self, request, view):
        grant = request.auth
        if not isinstance(grant, WorkerGrant):
            raise exceptions.NotAuthenticated("Worker callbacks need 'Authorization: Worker <token>'.")
        return grant.submission_id == int(view.kwargs["run_id"])


class LabWorkerApi(WorkerApi):
    authentication_classes = [LabWorkerTokenAuthentication]
    permission_classes = [HoldsTokenForThisRun]


class LabWorkerClaimApi(LabWorkerApi):
    @extend_schema(request=AttemptSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, run_id):
        attempt = self.attempt_of(request)
        run = services.lab_run_claim(run_id=run_id, attempt=attempt)
        return Response(lab_claim_payload(run=run, request=request))


class LabWorkerHeartbeatApi(LabWorkerApi):
    @extend_schema(request=AttemptSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, run_id):
        attempt = self.attempt_of(request)
        return heartbeat_answer(lambda: services.lab_run_heartbeat(run_id=run_id, attempt=attempt))


class LabWorkerEpochApi(LabWorkerApi):
    @extend_schema(request=EpochInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, run_id):
        attempt = self.attempt_of(request)
        records = epoch_records(request.data)
        services.lab_run_record_epochs(run_id=run_id, attempt=attempt, records=records)
        return Response({"ok": True, "stored": len(records)})


class LabWorkerPredictionsApi(LabWorkerApi):
    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [
            RefusingUploadHandler(request, max_bytes=settings.PODIUM_MAX_SUBMISSION_BYTES),
            TemporaryFileUploadHandler(request),
        ]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": OpenApiTypes.OBJECT}, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, run_id):
        attempt = self.attempt_of(request)
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Send the predictions CSV as the multipart field 'file'.")
        services.lab_run_store_predictions(
            run_id=run_id, attempt=attempt, file=upload, report=run_report_of(request.data.get("report"))
        )
        return Response({"ok": True}, status=status.HTTP_202_ACCEPTED)


class LabWorkerFailApi(LabWorkerApi):
    @extend_schema(request=FailInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, run_id):
        attempt = self.attempt_of(request)
        serializer = FailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.lab_run_fail(
            run_id=run_id,
            attempt=attempt,
            message=serializer.validated_data["message"],
            report=serializer.validated_data.get("report"),
        )
        return Response({"ok": True})


class LabWorkerFileApi(LabWorkerApi):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, run_id, dataset_slug, name):
        run = LabRun.objects.select_related("dataset").filter(pk=run_id).first()
        if run is None:
            raise Http404("No such lab run.")
        dataset_file = public_dataset_file(datasets=lab_datasets(run), dataset_slug=dataset_slug, name=name)
        response = FileResponse(dataset_file.file.open("rb"), as_attachment=True, filename=dataset_file.name)
        response["X-Content-SHA256"] = dataset_file.sha256
        return response
