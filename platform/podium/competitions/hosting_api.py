"""Competitions from scripts: create (staff), update and close (staff and the competition's
hosts), hosts (staff), join requests and invitations, participants. Thin views over the
services, with the admin's validation (competition_create / competition_update)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.protocol import MAX_VARIANTS
from podium.api_schema import error_responses
from podium.competitions import selectors, services
from podium.competitions.api import CompetitionDetailApi, CompetitionDetailOutput, CompetitionListApi, IsStaff
from podium.competitions.models import (
    LAB_DAILY_EPOCHS_MAX,
    Competition,
    Dataset,
    JoinPolicy,
    JoinRequest,
    Participation,
)
from podium.errors import ApplicationError, NotAllowed


class IsStaffToManage(IsStaff):
    message = "Only site staff may do this."


def _user_named(username: str):
    found = get_user_model().objects.filter(username=username).first()
    if found is None:
        raise ApplicationError(
            f"No user named '{username}'.", code="unknown_user", extra={"field": "username"}
        )
    return found


def _dataset_named(slug: str, version: int | None) -> Dataset:
    qs = Dataset.objects.filter(slug=slug)
    if version is not None:
        qs = qs.filter(version=version)
    found = qs.order_by("-version").first()
    if found is None:
        raise ApplicationError(
            f"No dataset '{slug}'" + (f" version {version}." if version else "."),
            code="unknown_dataset",
            extra={"field": "dataset"},
        )
    return found


def _detail(slug: str, request) -> dict:
    return CompetitionDetailOutput(selectors.competition_get(slug=slug, user=request.user)).data


class _Settings(serializers.Serializer):
    """The fields a host may change; the same names as the admin's form."""

    title = serializers.CharField(max_length=200)
    overview = serializers.CharField(allow_blank=True)
    rules = serializers.CharField(allow_blank=True)
    is_published = serializers.BooleanField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    merger_deadline = serializers.DateTimeField(allow_null=True)
    daily_limit = serializers.IntegerField(min_value=1, max_value=1000)
    total_limit = serializers.IntegerField(min_value=1, max_value=100_000, allow_null=True)
    max_final_picks = serializers.IntegerField(min_value=1, max_value=20)
    budget_epochs = serializers.IntegerField(min_value=1, max_value=10_000)
    budget_params = serializers.IntegerField(min_value=1, max_value=10**10)
    budget_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600)
    max_variants = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VARIANTS,
        help_text="The largest sweep or ensemble an entry may train (1: neither); its variants share the budget.",
    )
    lab_daily_epochs = serializers.IntegerField(
        min_value=0,
        max_value=LAB_DAILY_EPOCHS_MAX,
        help_text="Ablation compute per participant per UTC day, in model-epochs (0: ablations off).",
    )
    accepts_predictions = serializers.BooleanField()
    accepts_configs = serializers.BooleanField()
    pretrain_datasets = serializers.ListField(child=serializers.SlugField(), max_length=20)
    ladder_enabled = serializers.BooleanField()
    ladder_step = serializers.FloatField(min_value=0.0, max_value=1e6)
    join_policy = serializers.ChoiceField(choices=JoinPolicy.choices)


def _pretrain(slugs):
    return [_dataset_named(slug, None) for slug in slugs]


class CompetitionCreateInput(_Settings):
    slug = serializers.SlugField(max_length=64)
    dataset = serializers.SlugField(max_length=64, help_text="a dataset's slug")
    dataset_version = serializers.IntegerField(required=False, min_value=1, help_text="default: the latest")
    metric = serializers.CharField(max_length=30)
    split_seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    public_fraction = serializers.FloatField(required=False)

    class Meta:
        optional = (
            "overview rules is_published merger_deadline daily_limit total_limit max_final_picks "
            "budget_epochs budget_params budget_seconds max_variants lab_daily_epochs accepts_predictions accepts_configs "
            "pretrain_datasets ladder_enabled ladder_step join_policy"
        ).split()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.Meta.optional:
            self.fields[name].required = False


class CompetitionUpdateInput(_Settings):
    """Every field is optional (PATCH); dataset, metric, seed, public fraction and slug are
    fixed at creation and refused by name (the rescore changes the metric)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False

    def validate(self, attrs):
        given = set(self.initial_data)
        errors = {
            name: "fixed at creation: scores and the partition depend on it"
            for name in sorted(services.FROZEN_FIELDS & given)
        }
        errors.update(
            {
                name: "not a setting of a competition"
                for name in sorted(given - set(self.fields) - services.FROZEN_FIELDS)
            }
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class CompetitionListCreateApi(CompetitionListApi):
    """The list (anyone) and, by POST, a new competition (site staff)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.IsAuthenticated(), IsStaffToManage()]
        return super().get_permissions()

    @extend_schema(
        operation_id="competitions_create",
        request=CompetitionCreateInput,
        responses={201: CompetitionDetailOutput},
        description="Create a competition (site staff): the same validation as the admin; the answer key "
        "and the public/private partition are fixed at creation.",
    )
    def post(self, request):
        data = CompetitionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        dataset = _dataset_named(args.pop("dataset"), args.pop("dataset_version", None))
        if "pretrain_datasets" in args:
            args["pretrain_datasets"] = _pretrain(args["pretrain_datasets"])
        if Competition.objects.filter(slug=args["slug"]).exists():
            raise ApplicationError(
                f"A competition '{args['slug']}' exists already.", code="slug_taken", extra={"field": "slug"}
            )
        competition = services.competition_create(dataset=dataset, created_by=request.user, **args)
        return Response(_detail(competition.slug, request), status=status.HTTP_201_CREATED)


class CompetitionDetailManageApi(CompetitionDetailApi):
    """The competition (anyone who may see it) and, by PATCH, its settings (its hosts and staff)."""

    def get_permissions(self):
        if self.request.method == "PATCH":
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(
        operation_id="competitions_update",
        request=CompetitionUpdateInput,
        responses={200: CompetitionDetailOutput, **error_responses(403)},
    )
    def patch(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        data = CompetitionUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        if "pretrain_datasets" in args:
            args["pretrain_datasets"] = _pretrain(args["pretrain_datasets"])
        locked = Competition.objects.get(pk=competition.pk)
        services.competition_update(competition=locked, actor=request.user, **args)
        return Response(_detail(slug, request))


class CompetitionCloseApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    class CloseInput(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        operation_id="competitions_close",
        request=CloseInput,
        responses={200: CompetitionDetailOutput, **error_responses(403, 409)},
        description="Stop accepting entries now: the deadline becomes now, and the private board is "
        "revealed as at any deadline.",
    )
    def post(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        data = self.CloseInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.competition_close(
            competition=competition, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_detail(slug, request))


# --- hosts (site staff) ----------------------------------------------------------------------


class HostOutput(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    added_at = serializers.DateTimeField()


class UsernameInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class CompetitionHostsApi(APIView):
    """Who hosts the competition: hosts and staff read; staff add."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: HostOutput(many=True), **error_responses(403)})
    def get(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        return Response(HostOutput(selectors.competition_hosts(competition=competition), many=True).data)

    @extend_schema(request=UsernameInput, responses={201: HostOutput, **error_responses(403)})
    def post(self, request, slug: str):
        if not request.user.is_staff:
            raise NotAllowed("Only site staff make someone a host.")
        competition = selectors.competition_get(slug=slug, user=request.user)
        data = UsernameInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_named(data.validated_data["username"])
        host = services.competition_host_add(competition=competition, user=user, added_by=request.user)
        return Response(HostOutput(host).data, status=status.HTTP_201_CREATED)


class CompetitionHostDeleteApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None, **error_responses(403)})
    def delete(self, request, slug: str, username: str):
        if not request.user.is_staff:
            raise NotAllowed("Only site staff remove a host.")
        competition = selectors.competition_get(slug=slug, user=request.user)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise Http404("No such user.")
        services.competition_host_remove(competition=competition, user=user, removed_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- participants, join requests, invitations ---------------------------------------------------


class ParticipantOutput(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    joined_at = serializers.DateTimeField()


class JoinRequestOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = JoinRequest
        fields = ["id", "username", "state", "created_at", "decided_at", "reason"]


class CompetitionParticipantsApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: ParticipantOutput(many=True), **error_responses(403)})
    def get(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        rows = (
            Participation.objects.filter(competition=competition).select_related("user").order_by("joined_at")
        )
        return Response(ParticipantOutput(rows, many=True).data)


class JoinRequestsApi(APIView):
    """A person asks to join (POST); the hosts list the requests (GET)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: JoinRequestOutput(many=True), **error_responses(403)})
    def get(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        return Response(JoinRequestOutput(competition.join_requests.select_related("user"), many=True).data)

    @extend_schema(request=None, responses={201: JoinRequestOutput, **error_responses(400, 409)})
    def post(self, request, slug: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        found = services.join_request_create(competition=competition, user=request.user)
        return Response(JoinRequestOutput(found).data, status=status.HTTP_201_CREATED)


class JoinRequestDecideApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    class DecideInput(serializers.Serializer):
        approve = serializers.BooleanField()
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        operation_id="competitions_join_requests_decide",
        request=DecideInput,
        responses={200: JoinRequestOutput, **error_responses(403, 409)},
    )
    def post(self, request, slug: str, request_id: int):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        found = JoinRequest.objects.filter(competition=competition, pk=request_id).first()
        if found is None:
            raise Http404("No such join request.")
        data = self.DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        decided = services.join_request_decide(
            join_request=found, decided_by=request.user, **data.validated_data
        )
        return Response(JoinRequestOutput(decided).data)


class InvitationsApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=UsernameInput, responses={201: UsernameInput, **error_responses(403)})
    def post(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        data = UsernameInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_named(data.validated_data["username"])
        services.invitation_create(competition=competition, user=user, invited_by=request.user)
        return Response({"username": user.username}, status=status.HTTP_201_CREATED)
