from django.urls import path

from podium.competitions import api, metrics_api

app_name = "competitions"

urlpatterns = [
    path("competitions/", api.CompetitionListApi.as_view(), name="list"),
    path("competitions/<slug:slug>/", api.CompetitionDetailApi.as_view(), name="detail"),
    path("competitions/<slug:slug>/join/", api.CompetitionJoinApi.as_view(), name="join"),
    path("competitions/<slug:slug>/data/", api.CompetitionDataApi.as_view(), name="data"),
    # The CLI's name for the same listing.
    path("competitions/<slug:slug>/files/", api.CompetitionFilesApi.as_view(), name="files"),
    path("competitions/<slug:slug>/data/<str:name>", api.CompetitionDataFileApi.as_view(), name="data-file"),
    path("metrics/", metrics_api.MetricListApi.as_view(), name="metrics"),
    path("datasets/", api.DatasetListCreateApi.as_view(), name="datasets"),
    path("datasets/<slug:slug>/", api.DatasetDetailApi.as_view(), name="dataset-detail"),
    path("datasets/<slug:slug>/manifest/", api.DatasetManifestApi.as_view(), name="dataset-manifest"),
]
