from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "podium.teams"
    label = "teams"
