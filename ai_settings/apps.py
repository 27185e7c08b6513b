"""The ai_settings app: on start-up it registers its system checks and installs the redactor
in the log record factory."""

from django.apps import AppConfig


class AISettingsConfig(AppConfig):
    name = "ai_settings"
    verbose_name = "AI settings"

    def ready(self) -> None:
        from ai_settings import (
            checks,  # noqa: F401  (registers the system checks)
            redaction,
        )

        redaction.install()  # no log record carries a provider key
