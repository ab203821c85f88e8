"""REST API of the account: who am I, and API tokens (create shows the key once, revoke)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.accounts import selectors, services
from podium.accounts.models import ApiToken, User


class MeOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "display_name", "email", "is_staff", "date_joined"]


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class TokenCreatedOutput(TokenOutput):
    key = serializers.CharField(help_text="Shown once: only its hash is stored.")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "key"]


class MeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MeOutput)
    def get(self, request):
        return Response(MeOutput(request.user).data)


class TokenListCreateApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    class TokenCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=80)

    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request):
        return Response(TokenOutput(selectors.api_token_list(user=request.user), many=True).data)

    @extend_schema(request=TokenCreateInput, responses={201: TokenCreatedOutput})
    def post(self, request):
        data = self.TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        # A refused name answers {"name": [message]}, as the serializer's own checks do.
        token, key = services.api_token_create(user=request.user, name=data.validated_data["name"])
        token.key = key
        return Response(TokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, token_id: int):
        # Someone else's token id answers 404, as an unknown one does: ids do not leak.
        if selectors.api_token_get(user=request.user, token_id=token_id) is None:
            raise NotFound("No such token.")
        services.api_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
