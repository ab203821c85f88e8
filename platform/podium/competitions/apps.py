from django.apps import AppConfig


class CompetitionsConfig(AppConfig):
    name = "podium.competitions"
    label = "competitions"
