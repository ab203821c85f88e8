from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "podium.accounts"
    label = "accounts"

    def ready(self):
        from podium.accounts import checks  # noqa: F401  (registers the settings checks)
