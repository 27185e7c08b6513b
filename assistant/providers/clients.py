"""How SDK clients are built: the timeouts they use and the retries they make. Each adapter
keeps one client per event loop (assistant.per_loop: an async HTTP client's pooled
connections belong to the loop that opened them, so uvicorn's loop and each test's loop get
their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ai_settings.conf import app_settings
from assistant.providers.errors import retry_after_seconds

LIST_MODELS_TIMEOUT = 10.0
# The SDKs retry only the request itself, so never after the first token; they retry server
# errors (5xx, 408) and dropped connections, never a rate limit (429).
MAX_RETRIES = 2
# A chat turn does not sit silent for minutes: a longer Retry-After is reported to the user
# instead of being waited out by the SDK.
MAX_RETRY_WAIT = 20.0


async def refuse_unwanted_retries(response: Any) -> None:
    """httpx response hook: tell the SDK (`x-should-retry`) not to retry a 429 — the user
    is told at once to try again in Retry-After seconds, rather than waiting in silence
    while the SDK sits it out — nor to wait out a long delay."""
    wait = retry_after_seconds(response.headers)
    if response.status_code == 429 or (wait is not None and wait > MAX_RETRY_WAIT):
        response.headers["x-should-retry"] = "false"


@dataclass(frozen=True)
class Timeouts:
    connect: float
    idle: float  # longest silence allowed between two streamed chunks

    @classmethod
    def from_settings(cls) -> Timeouts:
        return cls(app_settings.PROVIDER_CONNECT_TIMEOUT, app_settings.PROVIDER_IDLE_TIMEOUT)
