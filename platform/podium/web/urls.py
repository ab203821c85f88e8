from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from podium.web.views import account, boards, entries, public, staff, status, submit

app_name = "web"

urlpatterns = [
    path("", public.home, name="home"),
    path("status/", status.status_page, name="status"),
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
    path("accounts/", account.account, name="account"),
    path("accounts/tokens/", account.token_create, name="token_create"),
    path("accounts/tokens/<int:token_id>/revoke/", account.token_revoke, name="token_revoke"),
    path("accounts/teams/join/", account.team_join, name="team_join"),
    # competitions
    path("c/<slug:slug>/", public.overview, name="competition"),
    path("c/<slug:slug>/data/", public.data, name="competition_data"),
    path("c/<slug:slug>/data/<str:name>", public.download, name="download"),
    path("c/<slug:slug>/rules/", public.rules, name="competition_rules"),
    path("c/<slug:slug>/join/", public.join, name="join"),
    path("c/<slug:slug>/teams/", account.team_create, name="team_create"),
    path("c/<slug:slug>/leaderboard/", boards.leaderboard, name="leaderboard"),
    path("c/<slug:slug>/submit/", submit.submit, name="submit"),
    path("c/<slug:slug>/submit/validate/", submit.validate, name="validate_config"),
    path("c/<slug:slug>/submissions/", entries.my_submissions, name="my_submissions"),
    path("c/<slug:slug>/submissions/rows/", entries.my_submissions_rows, name="my_submissions_rows"),
    path("c/<slug:slug>/compare/", entries.compare, name="compare"),
    # submissions
    path("submissions/<int:submission_id>/", entries.detail, name="submission"),
    path("submissions/<int:submission_id>/status/", entries.detail_status, name="submission_status"),
    path("submissions/<int:submission_id>/cancel/", entries.cancel, name="cancel"),
    path("submissions/<int:submission_id>/final/", entries.final_pick, name="final_pick"),
    path("submissions/<int:submission_id>/predictions/", entries.predictions, name="predictions"),
    # staff
    path("staff/competitions/new/", staff.new_competition, name="staff_new_competition"),
    path(
        "staff/competitions/new/<int:dataset_id>/",
        staff.new_competition_step2,
        name="staff_new_competition_step2",
    ),
]
