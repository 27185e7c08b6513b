"""The turn channel in process memory: for the embedded defaults (SQLite, the local-memory
cache), where one process serves every request.

The events of every turn live in one store per process, shared by its event loops (a test
run serves the app on a thread of its own); publishing wakes each loop's channel that follows
the turn, on that loop. Nothing is written to the database. A turn expires `retention`
seconds after its last event: the store drops expired turns whenever it is used.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import suppress
from dataclasses import dataclass, field

from assistant.turn_channel.channel import (
    Batch,
    TurnChannel,
    TurnNotFound,
    check_key,
    published,
)


@dataclass(slots=True)
class _StoredTurn:
    expires_at: float
    first: int = 1  # the id of events[0]
    events: list[str | None] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1


class _Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Least recently published first: expired turns are found at the front.
        self.turns: OrderedDict[str, _StoredTurn] = OrderedDict()
        self.channels: weakref.WeakSet[MemoryChannel] = weakref.WeakSet()

    def expire(self, now: float) -> None:
        """Drop the expired turns at the front (all of them, with one retention)."""
        while self.turns:
            key, turn = next(iter(self.turns.items()))
            if turn.expires_at > now:
                return
            del self.turns[key]

    def live(self, turn_key: str, now: float) -> _StoredTurn | None:
        self.expire(now)
        turn = self.turns.get(turn_key)
        if turn is not None and turn.expires_at <= now:  # behind a longer-lived one
            del self.turns[turn_key]
            return None
        return turn


_store = _Store()


class MemoryChannel(TurnChannel):
    def __init__(self, *, retention: float, max_events: int, sweep_every: float = 30.0) -> None:
        super().__init__(retention=retention, max_events=max_events, sweep_every=sweep_every)
        self._loop: asyncio.AbstractEventLoop | None = None

    def publish_nowait(self, turn_key: str, payload: str) -> int | None:
        check_key(turn_key)
        return published(turn_key, self._append_now(turn_key, payload))

    async def _append(self, turn_key: str, payload: str | None) -> int | None:
        return self._append_now(turn_key, payload)

    def _append_now(self, turn_key: str, payload: str | None) -> int | None:
        now = time.monotonic()
        with _store.lock:
            turn = _store.live(turn_key, now)
            if turn is None:
                turn = _store.turns[turn_key] = _StoredTurn(expires_at=now)
            elif turn.events and turn.events[-1] is None:
                return None
            turn.events.append(payload)
            if len(turn.events) > self.max_events:
                del turn.events[0]
                turn.first += 1
            turn.expires_at = now + self.retention
            _store.turns.move_to_end(turn_key)
            event_id = turn.last
            following = [channel for channel in _store.channels if channel._is_followed(turn_key)]
        running = asyncio.get_running_loop()
        for channel in following:
            channel._wake_from(running, turn_key, event_id, payload)
        return event_id

    def _wake_from(
        self, running: asyncio.AbstractEventLoop, turn_key: str, event_id: int, payload: str | None
    ) -> None:
        if self._loop is running:
            self._deliver(turn_key, event_id, payload)
        elif self._loop is not None and not self._loop.is_closed():
            # RuntimeError: the loop closed meanwhile, and nobody follows there any more.
            with suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._deliver, turn_key, event_id, payload)

    async def _read(self, turn_key: str, after: int, limit: int) -> Batch:
        with _store.lock:
            turn = _store.live(turn_key, time.monotonic())
            if turn is None:
                raise TurnNotFound(f"Turn {turn_key!r} is unknown or has expired.")
            start = max(after + 1, turn.first)
            end = min(turn.last, start + limit - 1)
            events = [(i, turn.events[i - turn.first]) for i in range(start, end + 1)]
            return Batch(events, turn.last)

    async def _watch(self, turn_key: str) -> None:
        with _store.lock:
            self._loop = asyncio.get_running_loop()
            _store.channels.add(self)

    async def _unwatch(self, turn_key: str) -> None:
        """Nothing to undo: publishing looks at what each channel follows now."""
