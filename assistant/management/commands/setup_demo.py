"""Configure the offline demo provider (used by `make demo`): an OpenAI-compatible provider
named "Demo (offline)" pointing at the fake OpenAI server that `make demo` starts."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from django.core.validators import URLValidator
from django.db import transaction

from ai_settings.current import bump_version
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider

DEMO_PROVIDER = "Demo (offline)"
DEMO_MODEL = "demo-model"


class Command(BaseCommand):
    help = 'Create or update the "Demo (offline)" OpenAI-compatible provider.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            required=True,
            help="The fake server's API root, e.g. http://127.0.0.1:8765/v1",
        )

    def handle(self, *args, base_url: str, **options) -> None:
        URLValidator()(base_url)
        with transaction.atomic():
            AISettings.load()
            provider, _ = CompatibleProvider.objects.update_or_create(
                name=DEMO_PROVIDER, defaults={"base_url": base_url, "api_key": ""}
            )
            CompatibleModel.objects.update_or_create(
                provider=provider,
                model_id=DEMO_MODEL,
                defaults={
                    "display_name": "Demo model (offline)",
                    "supports_attachments": True,
                    "supports_reasoning": False,
                },
            )
            bump_version()
        self.stdout.write(self.style.SUCCESS(f"“{DEMO_PROVIDER}” answers from {base_url}."))
