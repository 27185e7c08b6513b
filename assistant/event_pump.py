"""Reading a provider adapter's events in a task of their own, so that a Stop ends a step at
once, even while the provider is silent (a long think, a stalled connection)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from assistant.providers.events import Event, ReasoningDelta, TextDelta

END = object()
"""The adapter's events are over."""

STOP = object()
"""A Stop was requested: the step ends here."""


@dataclass(frozen=True)
class Failed:
    """The adapter raised (a fault of ours): the loop logs it and fails the step."""

    error: BaseException


class EventPump:
    def __init__(self, events: AsyncIterator[Event]) -> None:
        self._items: deque[object] = deque()
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(events))

    def _put(self, item: object) -> None:
        self._items.append(item)
        self._ready.set()

    async def _run(self, events: AsyncIterator[Event]) -> None:
        try:
            async with aclosing(events) as stream:  # type: ignore[type-var]
                first = True
                async for event in stream:
                    self._put(event)
                    if first:
                        # Let the first delta be written before the rest of an already
                        # buffered answer is decoded (time to first token).
                        first = False
                        await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # handed to the loop, which logs it and fails the step
            self._put(Failed(error))
        finally:
            self._put(END)

    def interrupt(self) -> None:
        """Stop requested: the loop ends the step when it reaches this."""
        self._put(STOP)

    async def next(self) -> object:
        """The next event, or END, STOP or a Failed."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def more_text(self, kind: type[TextDelta] | type[ReasoningDelta]) -> str:
        """The text of the deltas of this kind already waiting right behind the current one:
        when the page is slower than the provider, several deltas leave as one event."""
        pieces = []
        while self._items and type(self._items[0]) is kind:
            pieces.append(self._items.popleft().text)  # type: ignore[union-attr]
        return "".join(pieces)

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
