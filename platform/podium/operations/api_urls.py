from django.urls import path

from podium.operations import api

app_name = "operations"

_C = "competitions/<slug:slug>/"

urlpatterns = [
    path(_C + "rescore/", api.RescoreApi.as_view(), name="rescore"),
    path(_C + "answer-key/", api.AnswerKeyApi.as_view(), name="answer-key"),
    path(_C + "rescores/<int:job_id>/", api.RescoreJobApi.as_view(), name="rescore-job"),
    path(_C + "entries/<int:submission_id>/disqualify/", api.EntryDisqualifyApi.as_view(), name="disqualify"),
    path(_C + "entries/<int:submission_id>/reinstate/", api.EntryReinstateApi.as_view(), name="reinstate"),
    path(_C + "entries/<int:submission_id>/rerun/", api.EntryRerunApi.as_view(), name="rerun"),
    path(_C + "disqualifications/", api.DisqualificationsApi.as_view(), name="disqualifications"),
    path(
        _C + "disqualifications/<int:disqualification_id>/lift/",
        api.DisqualificationLiftApi.as_view(),
        name="disqualification-lift",
    ),
    path(_C + "audit/", api.AuditApi.as_view(), name="audit"),
    path(_C + "dashboard/", api.DashboardApi.as_view(), name="dashboard"),
]
