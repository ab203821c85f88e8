from django.urls import path

from podium.leaderboards import api

app_name = "leaderboards"

urlpatterns = [
    path("competitions/<slug:slug>/leaderboard/", api.LeaderboardApi.as_view(), name="board"),
    path("competitions/<slug:slug>/leaderboard.csv", api.LeaderboardCsvApi.as_view(), name="board-csv"),
    path("competitions/<slug:slug>/leaderboard/reveal/", api.LeaderboardRevealApi.as_view(), name="reveal"),
    path(
        "competitions/<slug:slug>/leaderboard/rows/<int:row_id>/history/",
        api.BoardRowHistoryApi.as_view(),
        name="row-history",
    ),
    path("submissions/<int:submission_id>/final-pick/", api.FinalPickApi.as_view(), name="final-pick"),
]
