from django.urls import path

from podium.teams import api

app_name = "teams"

urlpatterns = [
    path("competitions/<slug:slug>/teams/", api.TeamListCreateApi.as_view(), name="list"),
    path("competitions/<slug:slug>/teams/mine/", api.TeamMineApi.as_view(), name="mine"),
    path("competitions/<slug:slug>/teams/join/", api.TeamJoinApi.as_view(), name="join"),
    path("competitions/<slug:slug>/teams/leave/", api.TeamLeaveApi.as_view(), name="leave"),
    path("competitions/<slug:slug>/teams/requests/", api.TeamRequestListApi.as_view(), name="requests"),
    path(
        "competitions/<slug:slug>/teams/requests/<int:request_id>/accept/",
        api.TeamRequestAcceptApi.as_view(),
        name="request_accept",
    ),
    path(
        "competitions/<slug:slug>/teams/requests/<int:request_id>/decline/",
        api.TeamRequestDeclineApi.as_view(),
        name="request_decline",
    ),
]
