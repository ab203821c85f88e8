from django.urls import path

from podium.accounts import api

app_name = "accounts"

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("tokens/", api.TokenListCreateApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>/", api.TokenRevokeApi.as_view(), name="token-revoke"),
]
