from django.urls import path

from podium.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login_placeholder, name="login"),
]
