from django.urls import path

from podium.competitions import api, bundles_api, hosting_api, metrics_api, phases_api

app_name = "competitions"

urlpatterns = [
    path("competitions/", hosting_api.CompetitionListCreateApi.as_view(), name="list"),
    # Before the detail route, whose slug pattern would take "import".
    path("competitions/import/", bundles_api.CompetitionImportApi.as_view(), name="import"),
    path("competitions/<slug:slug>/", hosting_api.CompetitionDetailManageApi.as_view(), name="detail"),
    path("competitions/<slug:slug>/bundle/", bundles_api.CompetitionBundleApi.as_view(), name="bundle"),
    path("competitions/<slug:slug>/close/", hosting_api.CompetitionCloseApi.as_view(), name="close"),
    path("competitions/<slug:slug>/hosts/", hosting_api.CompetitionHostsApi.as_view(), name="hosts"),
    path(
        "competitions/<slug:slug>/hosts/<str:username>/",
        hosting_api.CompetitionHostDeleteApi.as_view(),
        name="host-delete",
    ),
    path(
        "competitions/<slug:slug>/participants/",
        hosting_api.CompetitionParticipantsApi.as_view(),
        name="participants",
    ),
    path(
        "competitions/<slug:slug>/join-requests/", hosting_api.JoinRequestsApi.as_view(), name="join-requests"
    ),
    path(
        "competitions/<slug:slug>/join-requests/<int:request_id>/",
        hosting_api.JoinRequestDecideApi.as_view(),
        name="join-request-decide",
    ),
    path("competitions/<slug:slug>/invitations/", hosting_api.InvitationsApi.as_view(), name="invitations"),
    path("competitions/<slug:slug>/join/", api.CompetitionJoinApi.as_view(), name="join"),
    path("competitions/<slug:slug>/data/", api.CompetitionDataApi.as_view(), name="data"),
    # The CLI's name for the same listing.
    path("competitions/<slug:slug>/files/", api.CompetitionFilesApi.as_view(), name="files"),
    path("competitions/<slug:slug>/data/<str:name>", api.CompetitionDataFileApi.as_view(), name="data-file"),
    path("metrics/", metrics_api.MetricListApi.as_view(), name="metrics"),
    path("competitions/<slug:slug>/phases/", phases_api.PhaseListApi.as_view(), name="phases"),
    path("competitions/<slug:slug>/phases/<slug:phase>/", phases_api.PhaseDetailApi.as_view(), name="phase"),
    path(
        "competitions/<slug:slug>/phases/<slug:phase>/close/",
        phases_api.PhaseCloseApi.as_view(),
        name="phase-close",
    ),
    path("datasets/", api.DatasetListCreateApi.as_view(), name="datasets"),
    path("image-datasets/", api.ImageDatasetCreateApi.as_view(), name="image-datasets"),
    path("datasets/<slug:slug>/", api.DatasetDetailApi.as_view(), name="dataset-detail"),
    path("datasets/<slug:slug>/manifest/", api.DatasetManifestApi.as_view(), name="dataset-manifest"),
]
