from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "podium.operations"
    label = "operations"
    verbose_name = "Operations (hosts)"
