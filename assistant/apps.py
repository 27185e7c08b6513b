from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "AI assistant"

    def ready(self) -> None:
        from ai_settings import connection_test
        from assistant import checks  # noqa: F401  (registers the system checks)
        from assistant.providers import list_models_for_settings

        # Settings → AI's Test connection lists models with our provider adapters.
        connection_test.register_model_lister(list_models_for_settings)
