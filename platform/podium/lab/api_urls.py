from django.urls import path

from podium.lab import api, worker_api

app_name = "lab"

urlpatterns = [
    path(
        "submissions/<int:submission_id>/ablations/options/",
        api.AblationOptionsApi.as_view(),
        name="ablation-options",
    ),
    path("submissions/<int:submission_id>/ablations/", api.AblationListCreateApi.as_view(), name="ablations"),
    path("ablations/<int:ablation_id>/", api.AblationDetailApi.as_view(), name="ablation"),
    path("ablations/<int:ablation_id>/cancel/", api.AblationCancelApi.as_view(), name="ablation-cancel"),
    path("worker/lab-runs/<int:run_id>/claim/", worker_api.LabWorkerClaimApi.as_view(), name="worker-claim"),
    path(
        "worker/lab-runs/<int:run_id>/heartbeat/",
        worker_api.LabWorkerHeartbeatApi.as_view(),
        name="worker-heartbeat",
    ),
    path(
        "worker/lab-runs/<int:run_id>/epochs/", worker_api.LabWorkerEpochApi.as_view(), name="worker-epochs"
    ),
    path(
        "worker/lab-runs/<int:run_id>/predictions/",
        worker_api.LabWorkerPredictionsApi.as_view(),
        name="worker-predictions",
    ),
    path("worker/lab-runs/<int:run_id>/fail/", worker_api.LabWorkerFailApi.as_view(), name="worker-fail"),
    path(
        "worker/lab-runs/<int:run_id>/files/<slug:dataset_slug>/<str:name>",
        worker_api.LabWorkerFileApi.as_view(),
        name="worker-file",
    ),
]
