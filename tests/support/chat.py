"""Shared set-up for the chat tests: providers pointed at the fake servers, and a reader for
the chat's Server-Sent Events."""

from __future__ import annotations

import itertools
import re
from html import unescape
from typing import Any

from ai_settings.current import CurrentSettings, get_current
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider

# get_current() rebuilds its snapshot when the settings version changes; the test database
# is emptied between tests, so each configuration gets a version no earlier test used.
_versions = itertools.count(2_000_000)

LOCAL = "Local LLM"
LOCAL_MODEL = "local-model"


def configure(
    *, settings: Any = None, fakes: dict[str, Any] | None = None, **fields: Any
) -> CurrentSettings:
    """AI settings with `fields` set, and the built-in providers' base URLs pointing at the
    given fakes ({"openai": fake_openai, …}, needs pytest-django's `settings`) with keys."""
    fakes = fakes or {}
    row = AISettings.load()
    if "openai" in fakes:
        settings.OPENAI_BASE_URL = fakes["openai"].base_url
        row.openai_api_key = "sk-" + "test-openai-0123456789"
        row.openai_allowed_models = ["gpt-5-mini"]
    if "anthropic" in fakes:
        settings.ANTHROPIC_BASE_URL = fakes["anthropic"].base_url
        row.anthropic_api_key = "sk-ant-" + "test-0123456789"
        row.anthropic_allowed_models = ["claude-haiku-4-5"]
    if "google" in fakes:
        settings.GOOGLE_BASE_URL = fakes["google"].base_url
        row.google_api_key = "AIza" + "Test0123456789abcdefghij"
        row.google_allowed_models = ["gemini-2.5-flash"]
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    bump()
    return get_current()


def bump() -> None:
    AISettings.objects.filter(pk=1).update(version=next(_versions))


def add_local_provider(fake: Any, *, name: str = LOCAL, **model_fields: Any) -> str:
    """An OpenAI-compatible provider served by the fake; returns the model key."""
    AISettings.load()
    provider = CompatibleProvider.objects.create(name=name, base_url=fake.base_url)
    values = {
        "model_id": LOCAL_MODEL,
        "display_name": "Local Model",
        "supports_attachments": True,
        "supports_reasoning": True,
        **model_fields,
    }
    model = CompatibleModel.objects.create(provider=provider, **values)
    bump()
    return f"compat-{provider.pk}:{model.model_id}"


_DATA = re.compile(r"^data: ?(.*)$", re.MULTILINE)


async def read_events(response: Any) -> list[str]:
    """The data of every unnamed SSE message of a streaming response (those htmx swaps in),
    in order: not the turn's closing "done" event."""
    body = b""
    async for part in response.streaming_content:
        body += part
    return parse_events(body.decode())


def parse_events(body: str) -> list[str]:
    events = []
    for block in body.split("\n\n"):
        lines = _DATA.findall(block)
        if lines and not block.startswith("event:") and "\nevent:" not in block:
            events.append("\n".join(lines))
    return events


def appended_text(events: list[str], message_id: int, kind: str = "text") -> str:
    """What the stream appended to one message's text (or reasoning), unescaped."""
    marker = f'hx-target="#message-{message_id}-{kind}" hx-swap="beforeend">'
    return "".join(
        unescape(event[len("<hx-partial ") + len(marker) : -len("</hx-partial>")])
        for event in events
        if event.startswith(f"<hx-partial {marker}")
    )
