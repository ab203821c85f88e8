from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "podium.lab"
    label = "lab"
    default_auto_field = "django.db.models.BigAutoField"
