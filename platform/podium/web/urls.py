from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path, reverse_lazy
from django.views.generic import RedirectView

from podium.web.views import (
    ablations,
    account,
    boards,
    claims,
    entries,
    host,
    public,
    staff,
    status,
    submit,
    teams,
)

app_name = "web"

urlpatterns = [
    path("", public.home, name="home"),
    # Browsers ask for /favicon.ico where a page names no icon (the API docs, a bare file).
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True), name="favicon"),
    path("status/", status.status_page, name="status"),
    path("claims/", claims.claims_index, name="claims"),
    path("claims/<slug:slug>/", claims.claim_detail, name="claim"),
    # account
    path("accounts/signup/", account.signup, name="signup"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="web/account/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="web/account/password_change.html", success_url=reverse_lazy("web:password_changed")
        ),
        name="password_change",
    ),
    path("accounts/password/done/", account.password_changed, name="password_changed"),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name="web/account/password_reset.html",
            email_template_name="mail/password_reset_email.txt",
            subject_template_name="mail/password_reset_subject.txt",
            success_url=reverse_lazy("web:password_reset_sent"),
        ),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="web/account/password_reset_sent.html"),
        name="password_reset_sent",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="web/account/password_reset_confirm.html",
            success_url=reverse_lazy("web:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="web/account/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("accounts/email/", account.mail_preferences, name="mail_preferences"),
    path("accounts/email/confirm/", account.email_verification_request, name="email_verification_request"),
    path("accounts/email/confirm/<str:token>/", account.email_verify, name="email_verify"),
    path("accounts/", account.account, name="account"),
    path("accounts/tokens/", account.token_create, name="token_create"),
    path("accounts/tokens/<int:token_id>/revoke/", account.token_revoke, name="token_revoke"),
    path("accounts/teams/join/", account.team_join, name="team_join"),
    # competitions
    path("c/<slug:slug>/", public.overview, name="competition"),
    path("c/<slug:slug>/data/", public.data, name="competition_data"),
    path("c/<slug:slug>/data/all.zip", public.download_all, name="download_all"),
    path("c/<slug:slug>/data/<str:name>", public.download, name="download"),
    path("c/<slug:slug>/rules/", public.rules, name="competition_rules"),
    path("c/<slug:slug>/join/", public.join, name="join"),
    path("c/<slug:slug>/teams/", account.team_create, name="team_create"),
    path("c/<slug:slug>/teams/leave/", teams.team_leave, name="team_leave"),
    path(
        "c/<slug:slug>/teams/requests/<int:request_id>/accept/",
        teams.team_request_accept,
        name="team_request_accept",
    ),
    path(
        "c/<slug:slug>/teams/requests/<int:request_id>/decline/",
        teams.team_request_decline,
        name="team_request_decline",
    ),
    path("c/<slug:slug>/leaderboard/", boards.leaderboard, name="leaderboard"),
    path("c/<slug:slug>/submit/", submit.submit, name="submit"),
    path("c/<slug:slug>/submit/validate/", submit.validate, name="validate_config"),
    path("c/<slug:slug>/submissions/", entries.my_submissions, name="my_submissions"),
    path("c/<slug:slug>/submissions/rows/", entries.my_submissions_rows, name="my_submissions_rows"),
    path("c/<slug:slug>/compare/", entries.compare, name="compare"),
    # the hosts' dashboard and actions
    path("c/<slug:slug>/host/", host.dashboard, name="host_dashboard"),
    path("c/<slug:slug>/host/rescore/", host.rescore_start, name="host_rescore"),
    path("c/<slug:slug>/host/rescore/progress/", host.rescore_progress, name="host_rescore_progress"),
    path("c/<slug:slug>/host/entries/<str:action>/", host.entry_action, name="host_entry_action"),
    path(
        "c/<slug:slug>/host/disqualify/participant/",
        host.disqualify_participant,
        name="host_disqualify_participant",
    ),
    path(
        "c/<slug:slug>/host/disqualifications/<int:disqualification_id>/lift/",
        host.lift_disqualification,
        name="host_lift_disqualification",
    ),
    path(
        "c/<slug:slug>/host/join-requests/<int:request_id>/",
        host.decide_join_request,
        name="host_join_decide",
    ),
    # submissions
    path("submissions/<int:submission_id>/", entries.detail, name="submission"),
    path("submissions/<int:submission_id>/status/", entries.detail_status, name="submission_status"),
    path("submissions/<int:submission_id>/cancel/", entries.cancel, name="cancel"),
    path("submissions/<int:submission_id>/final/", entries.final_pick, name="final_pick"),
    path("submissions/<int:submission_id>/predictions/", entries.predictions, name="predictions"),
    # ablations (the techniques lab)
    path("submissions/<int:submission_id>/ablate/", ablations.ablation_new, name="ablate"),
    path("ablations/<int:ablation_id>/", ablations.ablation_detail, name="ablation"),
    path("ablations/<int:ablation_id>/status/", ablations.ablation_status_card, name="ablation_status"),
    path("ablations/<int:ablation_id>/cancel/", ablations.ablation_stop, name="ablation_cancel"),
    # staff
    path("staff/competitions/new/", staff.new_competition, name="staff_new_competition"),
    path(
        "staff/competitions/new/<int:dataset_id>/",
        staff.new_competition_step2,
        name="staff_new_competition_step2",
    ),
]
