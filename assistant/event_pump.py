"""Reading a provider adapter's events in a task of their own, so that a Stop ends a step at
once, even while the provider is silent (a long think, a stalled connection)."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Final

from assistant.providers.events import Event, ReasoningDelta, TextDelta


class Signal(enum.Enum):
    """What the pump hands the loop besides the adapter's events."""

    END = enum.auto()
    STOP = enum.auto()


END: Final = Signal.END
"""The adapter's events are over."""

STOP: Final = Signal.STOP
"""A Stop was requested: the step ends here."""


@dataclass(frozen=True)
class Failed:
    """The adapter raised (a fault of ours): the loop logs it and fails the step."""

    error: BaseException


Item = Event | Failed | Signal
"""What the pump hands the loop: an adapter's event, END, STOP or a Failed."""

FIRST_DELTA_HOPS = 3


class EventPump:
    def __init__(self, events: AsyncGenerator[Event, None]) -> None:
        self._items: deque[Item] = deque()
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(events))

    def _put(self, item: Item) -> None:
        self._items.append(item)
        self._ready.set()

    async def _run(self, events: AsyncGenerator[Event, None]) -> None:
        try:
            async with aclosing(events) as stream:
                first = True
                async for event in stream:
                    self._put(event)
                    if first:
                        # Let the first delta reach the page before the rest of an already
                        # buffered answer is decoded (time to first token): it passes through
                        # FIRST_DELTA_HOPS tasks (the turn's loop, its publisher, a follower).
                        first = False
                        for _ in range(FIRST_DELTA_HOPS):
                            await asyncio.sleep(0)
        # An adapter yields its faults as ProviderError and never raises: whatever it raises is
        # a bug of ours. This is the boundary that hands it to the loop, which logs it with its
        # traceback and fails the step with a readable error. (A cancellation is not an
        # Exception: it goes through.)
        except Exception as error:  # noqa: BLE001
            self._put(Failed(error))
        finally:
            self._put(END)

    def interrupt(self) -> None:
        """Stop requested: the loop ends the step when it reaches this."""
        self._put(STOP)

    async def next(self) -> Item:
        """The next event, or END, STOP or a Failed."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def more_text(self, kind: type[TextDelta] | type[ReasoningDelta]) -> str:
        """The text of the deltas of this kind already waiting right behind the current one:
        when the page is slower than the provider, several deltas leave as one event."""
        pieces = []
        while self._items:
            item = self._items[0]
            if type(item) is not kind:
                break
            pieces.append(item.text)
            self._items.popleft()
        return "".join(pieces)

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task
