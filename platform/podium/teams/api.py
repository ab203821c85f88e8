"""Team API: thin views over the team services and selectors.

Service errors are `podium.errors.ApplicationError`s (400 `{detail, code}`), answered by
the project's DRF exception handler."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.api_schema import error_responses
from podium.competitions.selectors import competition_get
from podium.errors import ApplicationError, NotAllowed, NotFound
from podium.teams import selectors, services


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    member_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class TeamDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    join_code = serializers.CharField()
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_members(self, team) -> list[str]:
        return [u.username for u in selectors.team_members(team=team)]


class TeamCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)


class TeamJoinSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=100)


class TeamListCreateApi(APIView):
    @extend_schema(responses=inline_serializer("TeamList", {"results": TeamSerializer(many=True)}))
    def get(self, request, slug):
        competition = competition_get(slug=slug, user=request.user)
        teams = selectors.team_list(competition=competition)
        return Response({"results": TeamSerializer(teams, many=True).data})

    @extend_schema(request=TeamCreateSerializer, responses={201: TeamDetailSerializer})
    def post(self, request, slug):
        if not request.user.is_authenticated:
            raise NotAllowed("Sign in to create a team.")
        competition = competition_get(slug=slug, user=request.user)
        data = TeamCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(
            user=request.user, competition=competition, name=data.validated_data["name"]
        )
        return Response(TeamDetailSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamMineApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TeamDetailSerializer)
    def get(self, request, slug):
        competition = competition_get(slug=slug, user=request.user)
        team = selectors.team_for(competition=competition, user=request.user)
        if team is None:
            raise NotFound(f"You are not in a team in '{competition.slug}'.")
        return Response(TeamDetailSerializer(team).data)


class TeamJoinAskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    team = serializers.CharField(source="team.name")
    user = serializers.CharField(source="user.username")
    created_at = serializers.DateTimeField()


class TeamJoinApi(APIView):
    """Ask to join the team with this code; a member accepts (POST …/requests/<id>/accept/)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=TeamJoinSerializer, responses={202: TeamJoinAskSerializer, **error_responses(400)})
    def post(self, request, slug):
        competition = competition_get(slug=slug, user=request.user)
        data = TeamJoinSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = data.validated_data["code"]
        # A code is looked up in this competition only: a code of another one is as bad as a typo.
        team = selectors.team_by_code(competition=competition, join_code=code)
        if team is None:
            raise ApplicationError(
                f"No team in '{competition.slug}' has the join code '{code.strip()}'.", code="bad_code"
            )
        asked = services.team_join_request(user=request.user, join_code=team.join_code)
        return Response(TeamJoinAskSerializer(asked).data, status=status.HTTP_202_ACCEPTED)


class TeamRequestListApi(APIView):
    """The requests to join the caller's team (its members see them)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer("TeamJoinRequestList", {"results": TeamJoinAskSerializer(many=True)})
    )
    def get(self, request, slug):
        competition = competition_get(slug=slug, user=request.user)
        team = selectors.team_for(competition=competition, user=request.user)
        asked = selectors.team_join_requests(team=team, user=request.user) if team else []
        return Response({"results": TeamJoinAskSerializer(asked, many=True).data})


class TeamRequestAcceptApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: TeamDetailSerializer, **error_responses(400)})
    def post(self, request, slug, request_id):
        competition_get(slug=slug, user=request.user)
        team = services.team_join_accept(request_id=request_id, member=request.user)
        return Response(TeamDetailSerializer(team).data)


class TeamRequestDeclineApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: inline_serializer("TeamRequestDeclined", {"declined": serializers.BooleanField()})},
    )
    def post(self, request, slug, request_id):
        competition_get(slug=slug, user=request.user)
        services.team_join_decline(request_id=request_id, member=request.user)
        return Response({"declined": True})


class TeamLeaveApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer("TeamLeft", {"left": serializers.BooleanField()}),
            **error_responses(400),
        },
    )
    def post(self, request, slug):
        competition = competition_get(slug=slug, user=request.user)
        services.team_leave(user=request.user, competition=competition)
        return Response({"left": True})
