from django.urls import path

from podium.submissions import api, worker_api

app_name = "submissions"

urlpatterns = [
    path(
        "competitions/<slug:slug>/submissions/",
        api.SubmissionListCreateApi.as_view(),
        name="competition-submissions",
    ),
    path(
        "competitions/<slug:slug>/submissions/limits/",
        api.SubmissionLimitsApi.as_view(),
        name="competition-submission-limits",
    ),
    path(
        "competitions/<slug:slug>/submissions/validate/",
        api.SubmissionValidateApi.as_view(),
        name="competition-submission-validate",
    ),
    path("submissions/<int:submission_id>/", api.SubmissionDetailApi.as_view(), name="detail"),
    path("submissions/<int:submission_id>/cancel/", api.SubmissionCancelApi.as_view(), name="cancel"),
    path(
        "submissions/<int:submission_id>/predictions/",
        api.SubmissionPredictionsApi.as_view(),
        name="predictions",
    ),
    path(
        "worker/submissions/<int:submission_id>/claim/",
        worker_api.WorkerClaimApi.as_view(),
        name="worker-claim",
    ),
    path(
        "worker/submissions/<int:submission_id>/heartbeat/",
        worker_api.WorkerHeartbeatApi.as_view(),
        name="worker-heartbeat",
    ),
    path(
        "worker/submissions/<int:submission_id>/epochs/",
        worker_api.WorkerEpochApi.as_view(),
        name="worker-epochs",
    ),
    path(
        "worker/submissions/<int:submission_id>/predictions/",
        worker_api.WorkerPredictionsApi.as_view(),
        name="worker-predictions",
    ),
    path(
        "worker/submissions/<int:submission_id>/fail/", worker_api.WorkerFailApi.as_view(), name="worker-fail"
    ),
    path(
        "worker/submissions/<int:submission_id>/files/<slug:dataset_slug>/<str:name>",
        worker_api.WorkerFileApi.as_view(),
        name="worker-file",
    ),
]
