from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "AI assistant"

    def ready(self) -> None:
        from assistant import checks  # noqa: F401  (registers the system checks)
        from assistant.providers import redaction

        redaction.install()  # no log record carries a provider key
