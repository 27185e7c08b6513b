"""The events of the turns this process runs, for its own followers.

The worker running a turn keeps each event it published, with the id the turn channel gave
it, while the turn runs. A follower on the same event loop (the response to the request that
started the turn, above all) reads them from here: nothing to set up in the channel, and an
event reaches it as soon as it is published. Followers elsewhere read the channel. This is a
cache of what the channel holds: the ids are the channel's, so a follower may reconnect to
any worker with its Last-Event-ID.

A turn whose event could not be published (the channel failed for good) is `broken`: its
local followers end, as channel followers do, with the answer as stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from assistant.turn_channel import ReplayUnavailable


class LocalTurn:
    """One turn's published events, kept on the event loop that runs it."""

    def __init__(self, max_events: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.first = 0  # the id of events[0]
        self.events: list[str] = []
        self.max_events = max_events
        self.finished = False
        self.broken = False
        self._changed = asyncio.Event()

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1

    def add(self, event_id: int, payload: str) -> None:
        if not self.events:
            self.first = event_id
        elif event_id != self.last + 1:
            # Another process published in between (it does not while this one runs the
            # turn; should it anyway, the channel has what is missing here).
            self.finish(broken=True)
            return
        self.events.append(payload)
        # Trimmed by an eighth at a time, like the channel's own cache.
        excess = len(self.events) - self.max_events
        if excess > self.max_events // 8:
            del self.events[:excess]
            self.first += excess
        self._wake()

    def finish(self, *, broken: bool = False) -> None:
        self.finished = True
        self.broken = self.broken or broken
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed.clear()

    async def follow(self, after: int | None) -> AsyncGenerator[tuple[int, str], None]:
        """(id, payload) of the events after `after` (None: all), until the turn finishes or
        breaks (then read `broken`)."""
        cursor = after or 0
        while not self.broken:
            while cursor < self.last:
                if cursor + 1 < self.first:
                    raise ReplayUnavailable(f"The events after {cursor} are no longer kept here.")
                cursor += 1
                yield cursor, self.events[cursor - self.first]
            if self.finished:
                return
            await self._changed.wait()


_turns: dict[str, LocalTurn] = {}


def start(turn_key: str, max_events: int) -> LocalTurn:
    _turns[turn_key] = turn = LocalTurn(max_events)
    return turn


def end(turn_key: str) -> None:
    _turns.pop(turn_key, None)


def running_here(turn_key: str) -> LocalTurn | None:
    """The turn's local events when this event loop runs it."""
    turn = _turns.get(turn_key)
    if turn is None or turn.loop is not asyncio.get_running_loop():
        return None
    return turn
