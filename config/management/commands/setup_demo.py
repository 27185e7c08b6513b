"""Set up `make demo`: the offline demo provider (an OpenAI-compatible provider named "Demo
(offline)" pointing at the fake OpenAI server that `make demo` starts, answering as the demo
model of tests/fakes/demo.py) and the sample bookshop it works on."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.core.validators import URLValidator
from django.db import transaction

from ai_settings.current import bump_version
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider
from config.demo_shop.models import Author, Book

DEMO_PROVIDER = "Demo (offline)"
DEMO_MODEL = "demo-model"
# (author, title, price, stock): a few are low in stock, for "list the books low in stock".
SAMPLE_BOOKS = (
    ("Frank Herbert", "Dune", "9.99", 2),
    ("Frank Herbert", "Children of Dune", "10.99", 14),
    ("Ursula K. Le Guin", "The Left Hand of Darkness", "8.50", 0),
    ("Ursula K. Le Guin", "The Dispossessed", "11.25", 7),
    ("Octavia E. Butler", "Kindred", "12.00", 4),
    ("Octavia E. Butler", "Parable of the Sower", "10.50", 9),
)


class Command(BaseCommand):
    help = 'Create or update the "Demo (offline)" provider and the sample bookshop.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            required=True,
            help="The fake server's API root, e.g. http://127.0.0.1:8765/v1",
        )

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
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
            for author_name, title, price, stock in SAMPLE_BOOKS:
                author, _ = Author.objects.get_or_create(name=author_name)
                Book.objects.get_or_create(
                    title=title, defaults={"author": author, "price": price, "stock": stock}
                )
        self.stdout.write(self.style.SUCCESS(f"“{DEMO_PROVIDER}” answers from {base_url}."))
