from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project package as an app, for its system checks (config/checks.py)."""

    name = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers them)
