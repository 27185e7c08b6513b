"""The channel a chat turn's events go through: the worker running the turn publishes them,
and any number of followers (the request that started it, another tab, the panel on the next
page, a worker on another host) read them from any point on, without a gap or a duplicate, as
an SSE client resuming with Last-Event-ID expects.

    event_id = await publish(turn_key, payload)   # 1, 2, 3… per turn: usable as the SSE id
    await finish(turn_key)                        # followers end after the last event
    async with aclosing(follow(turn_key, after=last_event_id)) as events:
        async for event_id, payload in events:
            ...

follow() yields the stored events after `after` (None: all of them), then the live ones,
until the turn finishes. It raises TurnNotFound when the turn was never published or has
expired (also while it waits), ReplayUnavailable when the events after `after` are gone (the
turn's bound trimmed them) or no event had that id. Publish a turn's first event before
telling anyone its key: a turn exists from its first event.

The worker running a turn publishes its events, and any process may follow it. Another
process may publish too (say, the one that finds the turn's worker dead and ends it as
interrupted): every event still gets its own id, without a gap. The backend follows the
project's configuration (`configured_channel`):

- the default cache is Django's RedisCache: Redis Streams, and one pub/sub connection per
  process for the wake-ups (assistant.turn_channel.redis_streams);
- else the default database is PostgreSQL: a table (assistant.models.TurnEvent) and
  LISTEN/NOTIFY, one listening connection per process (assistant.turn_channel.postgres);
- else (the embedded defaults: SQLite, the local-memory cache, one process): in process
  memory (assistant.turn_channel.memory).

A turn's events expire TURN_CHANNEL_RETENTION seconds after its last one, and at most
TURN_CHANNEL_MAX_EVENTS are kept per turn (ai_settings.conf).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ai_settings.conf import app_settings
from assistant.per_loop import PerLoop
from assistant.turn_channel.channel import (
    ReplayUnavailable,
    TurnChannel,
    TurnChannelError,
    TurnFinished,
    TurnNotFound,
)

__all__ = [
    "ReplayUnavailable",
    "TurnChannel",
    "TurnChannelError",
    "TurnFinished",
    "TurnNotFound",
    "close_channel",
    "configured_channel",
    "event_id_from_header",
    "finish",
    "follow",
    "get_channel",
    "publish",
    "publish_nowait",
]


def configured_channel() -> TurnChannel:
    """A new channel on the backend the configuration calls for (see the module's doc). The
    backends that need redis or psycopg import them: a project without them runs in memory."""
    options: dict[str, Any] = {
        "retention": float(app_settings.TURN_CHANNEL_RETENTION),
        "max_events": int(app_settings.TURN_CHANNEL_MAX_EVENTS),
    }
    cache = settings.CACHES.get("default", {})
    if issubclass(import_string(cache.get("BACKEND", "")), RedisCache):
        from assistant.turn_channel.redis_streams import RedisChannel

        location = cache["LOCATION"]
        servers = location.split(",") if isinstance(location, str) else list(location)
        # The first server takes the writes.
        return RedisChannel(servers[0].strip(), key_prefix=cache.get("KEY_PREFIX", ""), **options)
    database = connections["default"]
    if database.vendor == "postgresql":
        from assistant.turn_channel.postgres import PostgresChannel

        return PostgresChannel(PostgresChannel.params_of(database), **options)
    from assistant.turn_channel.memory import MemoryChannel

    return MemoryChannel(**options)


_channels = PerLoop(configured_channel)


def get_channel() -> TurnChannel:
    """The running event loop's channel (its connections belong to that loop)."""
    return _channels.get()


async def close_channel() -> None:
    """Close the running loop's channel, if it made one (its connections, its tasks): for an
    event loop that ends before its process, a test's."""
    channel = _channels.discard()
    if channel is not None:
        await channel.aclose()


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"CACHES", "DATABASES", "TURN_CHANNEL_RETENTION", "TURN_CHANNEL_MAX_EVENTS"}:
        _channels.clear()


async def publish(turn_key: str, payload: str) -> int:
    return await get_channel().publish(turn_key, payload)


def publish_nowait(turn_key: str, payload: str) -> int | None:
    return get_channel().publish_nowait(turn_key, payload)


async def finish(turn_key: str) -> None:
    await get_channel().finish(turn_key)


def follow(turn_key: str, after: int | None = None) -> AsyncGenerator[tuple[int, str], None]:
    return get_channel().follow(turn_key, after)


def event_id_from_header(value: str | None) -> int | None:
    """The `after` of a follower resuming with this Last-Event-ID header (None: none sent)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise ReplayUnavailable(f"{text[:40]!r} is not an event id of the turn channel.")
    return int(text)
