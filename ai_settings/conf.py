"""The settings the three apps read, each with its default here: a host project sets only
what it wants to change. Read through `app_settings` (e.g. `app_settings.AI_ENABLED`); values
come from django.conf.settings when first read and again after a `setting_changed` signal
(override_settings in tests).

    AI_ENABLED                 True   False turns the AI feature off: chat and MCP answer 404
    OPENAI_BASE_URL            None   route built-in OpenAI through a gateway (None: the SDK's)
    ANTHROPIC_BASE_URL         None   the same for Anthropic
    GOOGLE_BASE_URL            None   the same for Google Gemini
    PROVIDER_CONNECT_TIMEOUT   10.0   seconds to connect to a provider
    PROVIDER_IDLE_TIMEOUT      120.0  seconds a stream may stay silent before it is a timeout
    TURN_CHANNEL_RETENTION     3600.0 seconds a turn's events are kept after its last one
    TURN_CHANNEL_MAX_EVENTS    10000  events kept per turn (the oldest go first)
    MAX_RUNNING_TURNS          3      answers one user may have being written at once
    TURN_HEARTBEAT_SECONDS     5.0    how often a running turn shows its worker is alive
    TURN_STALE_AFTER           30.0   seconds without that sign before a turn counts as lost
    SYNC_THREADS               4      threads per process for the answers' database work
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "AI_ENABLED": True,
    "OPENAI_BASE_URL": None,
    "ANTHROPIC_BASE_URL": None,
    "GOOGLE_BASE_URL": None,
    "PROVIDER_CONNECT_TIMEOUT": 10.0,
    "PROVIDER_IDLE_TIMEOUT": 120.0,
    "TURN_CHANNEL_RETENTION": 3600.0,
    "TURN_CHANNEL_MAX_EVENTS": 10_000,
    "MAX_RUNNING_TURNS": 3,
    "TURN_HEARTBEAT_SECONDS": 5.0,
    "TURN_STALE_AFTER": 30.0,
    "SYNC_THREADS": 4,
}


class AppSettings:
    # Each setting's type, for the type checker: the values are read by __getattr__.
    AI_ENABLED: bool
    OPENAI_BASE_URL: str | None
    ANTHROPIC_BASE_URL: str | None
    GOOGLE_BASE_URL: str | None
    PROVIDER_CONNECT_TIMEOUT: float
    PROVIDER_IDLE_TIMEOUT: float
    TURN_CHANNEL_RETENTION: float
    TURN_CHANNEL_MAX_EVENTS: int
    MAX_RUNNING_TURNS: int
    TURN_HEARTBEAT_SECONDS: float
    TURN_STALE_AFTER: float
    SYNC_THREADS: int

    def __init__(self, defaults: dict[str, Any]) -> None:
        self._defaults = defaults
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in self._defaults:
            raise AttributeError(f"{name} is not a setting of the assistant's apps.")
        if name not in self._cache:
            self._cache[name] = getattr(settings, name, self._defaults[name])
        return self._cache[name]

    def forget(self, name: str | None = None) -> None:
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)


app_settings = AppSettings(DEFAULTS)


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in DEFAULTS:
        app_settings.forget(setting)
