"""Support for the secret leak scan: distinctive secrets, every form they could leak in, a log
capture at DEBUG for every logger, and the set-up of every provider through Settings → AI."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ai_settings.models import AISettings, CompatibleProvider
from tests.support.settings_page import URL, form_data, open_form

# Distinctive, and shaped like the real thing where the provider has a shape (sk-…, AIza…);
# the compatible ones have no known shape, so only the redaction of their runs can hide them.
# No label in them: any eight characters of a key in a row are redacted from provider text,
# and a key holding "anthropic" would take "nthropic" out of "Anthropic".
OPENAI_KEY = "sk-" + "proj-LEAKopenai7Qx2Vb9Nc4Hd1Kz8Wm3Rt5"
ANTHROPIC_KEY = "sk-ant-" + "api03-LEAKsonnet3Oo9Ii8Uu7Yy6"
GOOGLE_KEY = "AIza" + "SyLEAKgoogle4Hh5Jj6Kk7Ll8Zz9Xx0"
COMPAT_ONE_KEY = "lmstudio-LEAKcompatone2Ee3Rr4Tt5Yy6"
COMPAT_TWO_KEY = "mistral-LEAKcompattwo6Uu7Ii8Oo9Pp0"
HEADER_VALUE = "gateway-LEAKheader1Ss2Dd3Ff4Gg5Hh6"

SECRETS = {
    "OpenAI API key": OPENAI_KEY,
    "Anthropic API key": ANTHROPIC_KEY,
    "Google API key": GOOGLE_KEY,
    "compatible provider 1 API key": COMPAT_ONE_KEY,
    "compatible provider 2 API key": COMPAT_TWO_KEY,
    "custom header value": HEADER_VALUE,
}

WINDOW = 12  # any 12 characters of a secret in a row count as a leak (the page may show 4)


def _base64_forms(secret: str) -> Iterator[str]:
    """The stable middle of the secret's base64 encodings at each of the three alignments
    it can have inside a longer encoded string, standard and URL-safe alphabets."""
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + secret.encode()).decode().rstrip("=")
            # Characters mixing the padding bytes or the unknown tail are not stable.
            start = (pad * 8 + 5) // 6
            stable = encoded[start : len(encoded) - 2]
            if len(stable) >= WINDOW:
                yield stable


def forms_of(secret: str) -> dict[str, list[str]]:
    """Name of the form → the strings whose presence means the secret leaked."""
    windows = [secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)]
    return {"as text": windows or [secret], "base64": list(_base64_forms(secret))}


@dataclass
class LeakScan:
    """What the test saw: pages, streams, responses and logs, checked together at the end."""

    secrets: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    seen: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, text: str | bytes) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self.seen.append((label, text))
        return text

    def leaks(self, extra: list[tuple[str, str]] = ()) -> list[str]:
        found = []
        for label, text in [*self.seen, *extra]:
            for name, secret in self.secrets.items():
                for form, needles in forms_of(secret).items():
                    hit = next((needle for needle in needles if needle in text), None)
                    if hit:
                        at = text.index(hit)
                        context = text[max(0, at - 80) : at + 80].replace("\n", " ")
                        found.append(f"{name} ({form}) in {label}: …{context}…")
        return found


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as error:  # noqa: BLE001 (an unformattable record is a finding too)
            self.lines.append(
                f"UNFORMATTABLE {record.name}: {error!r} {record.msg!r} {record.args!r}"
            )


@contextmanager
def every_log_at_debug() -> Iterator[_Collector]:
    """Every logger (root, django, httpx, httpcore, the SDKs, mcp, uvicorn…) at DEBUG into one
    collector, including loggers that do not propagate; levels restored afterwards."""
    collector = _Collector()
    names = ["", "django", "django.request", "django.db.backends", "django.security", "httpx",
             "httpcore", "httpx2", "openai", "anthropic", "google_genai", "google", "mcp",
             "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "ai_settings",
             "assistant", "prompts", "config"]  # fmt: skip
    names += list(logging.root.manager.loggerDict)
    saved = {}
    for name in dict.fromkeys(names):
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.disabled)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate or name == "":
            logger.addHandler(collector)
    try:
        yield collector
    finally:
        for name, (level, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(collector)


@dataclass(frozen=True)
class Configured:
    """Model keys of each provider, set up with the distinctive secrets."""

    openai: str
    anthropic: str
    google: str
    compat_one: str
    compat_two: str

    def all(self) -> dict[str, str]:
        return {
            "openai": self.openai,
            "anthropic": self.anthropic,
            "google": self.google,
            "compat_one": self.compat_one,
            "compat_two": self.compat_two,
        }


def configure_through_the_page(
    client: Any, scan: LeakScan, *, compatible_base_url: str
) -> Configured:
    """An administrator sets every key, two compatible providers (one with a custom header)
    and their models on Settings → AI, without JavaScript; each response is scanned."""
    form = open_form(client)
    # The rows first: typed secrets are not sent back to the browser by these round trips.
    for _ in range(2):
        response = client.post(URL, form.post("add_provider:"))
        scan.add("Settings → AI after Add provider", response.text)
        form = form_data(response.text)
    response = client.post(URL, form.post("add_header:0"))
    scan.add("Settings → AI after Add header", response.text)
    form = form_data(response.text)
    form.set("openai-api_key", OPENAI_KEY)
    form.set("anthropic-api_key", ANTHROPIC_KEY)
    form.set("google-api_key", GOOGLE_KEY)
    form.set("rate_limit_per_minute", "1000")  # the scan sends many messages
    form.remove("openai-allowed_models").add("openai-allowed_models", "gpt-5-mini")
    form.remove("anthropic-allowed_models").add("anthropic-allowed_models", "claude-haiku-4-5")
    form.remove("google-allowed_models").add("google-allowed_models", "gemini-2.5-flash")
    for index, (name, key) in enumerate(
        (("Gateway LLM", COMPAT_ONE_KEY), ("Second LLM", COMPAT_TWO_KEY))
    ):
        form.set(f"providers-{index}-name", name)
        form.set(f"providers-{index}-base_url", compatible_base_url)
        form.set(f"providers-{index}-api_key", key)
        form.set(f"providers-{index}-models-0-model_id", f"model-{index}")
    form.set("providers-0-headers-0-name", "X-Gateway-Token")
    form.set("providers-0-headers-0-value", HEADER_VALUE)
    response = client.post(URL, form.post())
    assert response.status_code == 302, response.text[:3000]
    one = CompatibleProvider.objects.get(name="Gateway LLM")
    two = CompatibleProvider.objects.get(name="Second LLM")
    assert AISettings.load().openai_api_key == OPENAI_KEY
    return Configured(
        openai="openai:gpt-5-mini",
        anthropic="anthropic:claude-haiku-4-5",
        google="google:gemini-2.5-flash",
        compat_one=f"compat-{one.pk}:model-0",
        compat_two=f"compat-{two.pk}:model-1",
    )


_SSE_DATA = re.compile(r"^data: ?(.*)$", re.MULTILINE)


def sse_text(body: bytes) -> str:
    """The HTML the SSE stream carried (its data lines joined)."""
    return "\n".join(_SSE_DATA.findall(body.decode("utf-8", errors="replace")))
