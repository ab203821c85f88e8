"""The hosts' operations API: rescore, disqualify and reinstate, re-run, the audit log and
the dashboard's numbers. Every view first checks that the caller manages the competition."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.api_schema import error_responses
from podium.competitions.audit import audit_list
from podium.competitions.models import AuditEvent
from podium.competitions.selectors import competition_get_managed, competition_phase
from podium.competitions.services import competition_correct_answer_key
from podium.competitions.upload_handlers import install_capped_handler
from podium.errors import ApplicationError, Conflict, TooLarge
from podium.operations import rescore, selectors, services
from podium.operations.models import RescoreJob
from podium.submissions.models import Disqualification
from podium.teams.models import Team


class RescoreJobOutput(serializers.ModelSerializer):
    progress = serializers.FloatField()
    requested_by = serializers.CharField(source="requested_by.username", default=None, allow_null=True)

    class Meta:
        model = RescoreJob
        fields = [
            "id",
            "state",
            "metric",
            "reason",
            "total",
            "done",
            "failed",
            "progress",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class EntryActionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    attempt = serializers.IntegerField()
    disqualified_at = serializers.DateTimeField(allow_null=True)
    disqualified_reason = serializers.CharField()


class DisqualificationOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", default=None, allow_null=True)
    team = serializers.CharField(source="team.name", default=None, allow_null=True)

    class Meta:
        model = Disqualification
        fields = ["id", "username", "team", "reason", "created_at", "lifted_at"]


class AuditEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "action", "target", "reason", "actor", "data", "created_at"]


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class _Managed(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def entry(self, request, slug: str, submission_id: int):
        competition = competition_get_managed(slug=slug, user=request.user)
        found = selectors.competition_entry(competition=competition, submission_id=submission_id)
        if found is None:
            raise Http404(f"No entry #{submission_id} in '{slug}'.")
        return found


class RescoreApi(_Managed):
    class RescoreInput(ReasonInput):
        metric = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="rank by this metric from now on"
        )

    @extend_schema(responses={200: RescoreJobOutput(many=True), **error_responses(403)})
    def get(self, request, slug: str):
        competition = competition_get_managed(slug=slug, user=request.user)
        return Response(
            RescoreJobOutput(selectors.rescore_jobs(competition=competition)[:50], many=True).data
        )

    @extend_schema(
        request=RescoreInput,
        responses={202: RescoreJobOutput, **error_responses(403, 409)},
        description="Score every scored entry again (after the answer key or the metric changed), in the "
        "background; the answer is the job, whose progress GET …/rescores/{id}/ reports.",
    )
    def post(self, request, slug: str):
        competition = competition_get_managed(slug=slug, user=request.user)
        data = self.RescoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = rescore.rescore_start(
            competition=competition,
            actor=request.user,
            reason=data.validated_data["reason"],
            metric=data.validated_data["metric"] or None,
        )
        return Response(RescoreJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class RescoreJobApi(_Managed):
    @extend_schema(responses={200: RescoreJobOutput, **error_responses(403)})
    def get(self, request, slug: str, job_id: int):
        competition = competition_get_managed(slug=slug, user=request.user)
        job = selectors.rescore_job_get(competition=competition, job_id=job_id)
        if job is None:
            raise Http404(f"No rescore job #{job_id} in '{slug}'.")
        return Response(RescoreJobOutput(job).data)


def _entry_answer(submission) -> dict:
    return EntryActionOutput(submission).data


class EntryDisqualifyApi(_Managed):
    @extend_schema(request=ReasonInput, responses={200: EntryActionOutput, **error_responses(403, 409)})
    def post(self, request, slug: str, submission_id: int):
        entry = self.entry(request, slug, submission_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.submission_disqualify(
            submission=entry, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_entry_answer(done))


class EntryReinstateApi(_Managed):
    @extend_schema(request=ReasonInput, responses={200: EntryActionOutput, **error_responses(403, 409)})
    def post(self, request, slug: str, submission_id: int):
        entry = self.entry(request, slug, submission_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.submission_reinstate(
            submission=entry, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_entry_answer(done))


class EntryRerunApi(_Managed):
    @extend_schema(request=ReasonInput, responses={202: EntryActionOutput, **error_responses(403, 409)})
    def post(self, request, slug: str, submission_id: int):
        entry = self.entry(request, slug, submission_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.submission_rerun(
            submission=entry, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_entry_answer(done), status=status.HTTP_202_ACCEPTED)


class DisqualificationsApi(_Managed):
    class DisqualifyInput(serializers.Serializer):
        username = serializers.CharField(required=False, max_length=150)
        team = serializers.CharField(required=False, max_length=100, help_text="the team's name")
        reason = serializers.CharField(allow_blank=True, max_length=2000)

    @extend_schema(responses={200: DisqualificationOutput(many=True), **error_responses(403)})
    def get(self, request, slug: str):
        competition = competition_get_managed(slug=slug, user=request.user)
        return Response(
            DisqualificationOutput(selectors.disqualifications(competition=competition), many=True).data
        )

    @extend_schema(
        request=DisqualifyInput, responses={201: DisqualificationOutput, **error_responses(403, 409)}
    )
    def post(self, request, slug: str):
        competition = competition_get_managed(slug=slug, user=request.user)
        data = self.DisqualifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        user = team = None
        if args.get("username"):
            user = get_user_model().objects.filter(username=args["username"]).first()
            if user is None:
                raise ApplicationError(f"No user named '{args['username']}'.", extra={"field": "username"})
        if args.get("team"):
            team = Team.objects.filter(competition=competition, name=args["team"]).first()
            if team is None:
                raise ApplicationError(f"No team '{args['team']}' in '{slug}'.", extra={"field": "team"})
        record = services.entrant_disqualify(
            competition=competition, actor=request.user, reason=args["reason"], user=user, team=team
        )
        return Response(DisqualificationOutput(record).data, status=status.HTTP_201_CREATED)


class DisqualificationLiftApi(_Managed):
    @extend_schema(request=ReasonInput, responses={200: DisqualificationOutput, **error_responses(403, 409)})
    def post(self, request, slug: str, disqualification_id: int):
        competition = competition_get_managed(slug=slug, user=request.user)
        record = selectors.disqualifications(competition=competition).filter(pk=disqualification_id).first()
        if record is None:
            raise Http404(f"No disqualification #{disqualification_id} in '{slug}'.")
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        lifted = services.entrant_reinstate(
            disqualification=record, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(DisqualificationOutput(lifted).data)


class AuditApi(_Managed):
    @extend_schema(responses={200: AuditEventOutput(many=True), **error_responses(403)})
    def get(self, request, slug: str):
        competition = competition_get_managed(slug=slug, user=request.user)
        return Response(AuditEventOutput(audit_list(competition=competition)[:200], many=True).data)


class DashboardApi(_Managed):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, **error_responses(403)})
    def get(self, request, slug: str):
        competition = competition_get_managed(slug=slug, user=request.user)
        stats = selectors.dashboard(competition=competition)
        running = selectors.rescore_jobs(competition=competition).first()
        stats["last_rescore"] = RescoreJobOutput(running).data if running else None
        return Response(stats)


class AnswerKeyApi(_Managed):
    """Corrected test labels for the competition's answer key (same ids, same partition),
    then, by default, a rescore of every entry."""

    parser_classes = [MultiPartParser, FormParser]

    class AnswerKeyInput(ReasonInput):
        labels = serializers.FileField(
            allow_empty_file=True,
            help_text="test_labels.csv: the id column and the target column, every test id once",
        )
        rescore = serializers.BooleanField(required=False, default=True, help_text="score every entry again")
        phase = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=64,
            help_text="the phase whose answer key to correct: its own split's, or the competition's it shares "
            "(default: the competition's)",
        )

    class AnswerKeyOutput(serializers.Serializer):
        labels_changed = serializers.IntegerField()
        answer_key_sha256 = serializers.CharField()
        rescore = RescoreJobOutput(allow_null=True)

    def initialize_request(self, request, *args, **kwargs):
        # The cap must be in place before anything reads the body.
        if request.method == "POST":
            self.capped = install_capped_handler(request, max_bytes=settings.PODIUM_MAX_DATASET_FILE_BYTES)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": AnswerKeyInput},
        responses={200: AnswerKeyOutput, **error_responses(403, 409, 413)},
    )
    def post(self, request, slug: str):
        from datasets.answer_key import AnswerKeyError

        competition = competition_get_managed(slug=slug, user=request.user)
        request.data  # noqa: B018  (parses the body through the capped handler)
        if getattr(self, "capped", None) and self.capped.too_large:
            limit = settings.PODIUM_MAX_DATASET_FILE_BYTES
            raise TooLarge(
                f"The labels file is larger than the limit of {limit:,} bytes; nothing was stored.",
                extra={"limit": limit},
            )
        data = self.AnswerKeyInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        phase = competition_phase(competition=competition, slug=args["phase"]) if args.get("phase") else None
        if args["rescore"] and selectors.rescore_running(competition=competition):
            raise Conflict(
                f"A rescore of '{slug}' is running; correct the labels when it has ended.",
                code="rescore_running",
            )
        try:
            with transaction.atomic():
                corrected = competition_correct_answer_key(
                    competition=competition,
                    labels=args["labels"].read(),
                    actor=request.user,
                    reason=args["reason"],
                    phase=phase,
                )
                job = (
                    rescore.rescore_start(competition=competition, actor=request.user, reason=args["reason"])
                    if args["rescore"]
                    else None
                )
        except AnswerKeyError as exc:
            raise ApplicationError.from_problems(
                "The corrected labels were refused; nothing was stored.", exc
            ) from None
        return Response(
            {
                "labels_changed": corrected.labels_changed,
                "answer_key_sha256": corrected.answer_key_sha256,
                "rescore": RescoreJobOutput(job).data if job else None,
            }
        )
