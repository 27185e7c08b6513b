"""What every backend of the turn channel shares: following a turn from any of its events on,
and the fan-out that wakes all of a process's followers of a turn at once.

A turn's events are numbered 1, 2, 3… in the order they were published: the number is the
event's id (an SSE id), a follower resumes with the last id it had, and a missing number
shows a gap. finish() adds one last event that marks the end; followers never see it.

A backend stores the events and tells this process when a followed turn has a new one; it
implements `_append`, `_read`, `_watch`, `_unwatch` (and `aclose` when it holds
connections). The rest is here:

- Each turn followed in this process has one `_Followed`: the turn's events as far as this
  process knows them (a cache of what the backend stores, kept while the turn has local
  followers) and one asyncio.Event that its waiting followers wait on. A wake-up from the
  backend appends the event it carries (or has the stored events read again when it carries
  none, or when its number shows a gap) and sets that Event once: an event costs one notice
  per process, however many followers it has there.
- Followers read only that cache. Storage is read once per process per turn: when its first
  local follower arrives (after the wake-ups are set up, so nothing falls between the two),
  after a wake-up without the event or with a gap, after the backend reconnected, and by the
  sweep (one task per process, every `sweep_every` seconds while turns are followed, which
  also ends the followers of a turn that expired without finishing).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Generic, NamedTuple, TypeVar

logger = logging.getLogger(__name__)

# Events per read of the stored ones.
READ_BATCH = 1000
# A turn key fits the PostgreSQL backend's column.
KEY_LENGTH = 100


class TurnChannelError(Exception):
    """Base of the turn channel's own errors."""


class TurnNotFound(TurnChannelError, LookupError):
    """The turn has no events: it was never published, or it has expired."""


class ReplayUnavailable(TurnChannelError):
    """The events after the id asked for cannot be given without a gap: they are older than
    the turn's bound (TURN_CHANNEL_MAX_EVENTS), or no event of the turn has that id."""


class TurnFinished(TurnChannelError):
    """An event published after the turn's finish()."""


class Batch(NamedTuple):
    """A read of a turn's stored events: some of those after an id, in order (payload None
    marks the end), and the id of the newest event stored."""

    events: list[tuple[int, str | None]]
    newest: int


def check_key(turn_key: object) -> None:
    """A caller's key, whatever its type says: a string of 1 to KEY_LENGTH characters."""
    if not isinstance(turn_key, str) or not 0 < len(turn_key) <= KEY_LENGTH:
        raise ValueError(f"A turn key is a string of 1 to {KEY_LENGTH} characters.")


def published(turn_key: str, event_id: int | None) -> int:
    """The id a backend gave the event; TurnFinished when it took none (the turn had ended)."""
    if event_id is None:
        raise TurnFinished(f"Turn {turn_key!r} has finished; it takes no more events.")
    return event_id


def start_after(after: object) -> int:
    """The id a follower's `after` names, whatever its type says (None: 0, before the first)."""
    cursor = 0 if after is None else after
    if not isinstance(cursor, int) or cursor < 0:
        raise ValueError("after is an event id (a positive integer) or None.")
    return cursor


Item = TypeVar("Item")
Result = TypeVar("Result")


class Batches(Generic[Item, Result]):
    """Appends that wait for the backend's next round trip: while one batch is written the next
    one collects, so a busy process writes many events per round trip and an idle one writes
    each at once. `write` gives one result (or the exception) per item, in order."""

    def __init__(
        self,
        channel: TurnChannel,
        write: Callable[[list[Item]], Awaitable[list[Result | Exception]]],
        size: int = 500,
    ) -> None:
        self._channel = channel
        self._write = write
        self._size = size
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def put(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = self._channel._spawn(self._run())
        return await future

    async def _run(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._size]
                del self._waiting[: self._size]
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as error:  # noqa: BLE001  (each publisher gets it raised)
                    results = [error] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its publisher stopped waiting
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        finally:
            for _, future in batch + self._waiting:
                future.cancel()  # the channel is closing


class _Followed:
    """One turn followed in this process: its events known here, shared by its followers."""

    __slots__ = (
        "changed",
        "error",
        "events",
        "first",
        "followers",
        "key",
        "limit",
        "read_again",
        "reading",
        "ready",
    )

    def __init__(self, key: str, limit: int) -> None:
        self.key = key
        self.first = 1  # the id of events[0]
        self.events: list[str | None] = []
        self.limit = limit
        self.followers = 0
        self.error: TurnChannelError | None = None
        self.changed = asyncio.Event()
        self.ready: asyncio.Task[None] | None = None
        self.reading: asyncio.Task[None] | None = None
        self.read_again = False

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1] is None

    def add(self, event_id: int, payload: str | None) -> bool:
        """Append the event if it is the next one (known ones are ignored); False when
        events are missing before it."""
        if event_id <= self.last:
            return True
        if event_id != self.last + 1:
            return False
        self.events.append(payload)
        # Trimmed by an eighth at a time: a long turn does not move the list at every event.
        excess = len(self.events) - self.limit
        if excess > self.limit // 8:
            del self.events[:excess]
            self.first += excess
        return True

    def restart_at(self, event_id: int) -> None:
        """Storage no longer has the events before `event_id` (trimmed): start from it."""
        self.first = event_id
        self.events = []

    def wake(self) -> None:
        self.changed.set()
        self.changed.clear()


class TurnChannel(ABC):
    """A turn channel on one event loop. Backends subclass it; get_channel() gives the
    configured one of the running loop."""

    def __init__(self, *, retention: float, max_events: int, sweep_every: float = 30.0) -> None:
        if retention <= 0 or max_events < 1:
            raise ValueError("retention must be positive and max_events at least 1.")
        self.retention = retention
        self.max_events = max_events
        self.sweep_every = sweep_every
        self._followed: dict[str, _Followed] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # The API ----------------------------------------------------------------------------------

    async def publish(self, turn_key: str, payload: str) -> int:
        """Store the turn's next event and wake its followers everywhere; its id."""
        check_key(turn_key)
        if not isinstance(payload, str):
            raise TypeError("An event's payload is a string.")
        return published(turn_key, await self._append(turn_key, payload))

    def publish_nowait(self, turn_key: str, payload: str) -> int | None:
        """publish() when the backend stores an event without waiting (in memory): its id;
        None from the backends that must wait (use publish)."""
        return None

    async def finish(self, turn_key: str) -> None:
        """Mark the end of the turn: its followers' iteration ends after its last event, and
        its events expire `retention` seconds later. Finishing twice does nothing more."""
        check_key(turn_key)
        await self._append(turn_key, None)

    async def follow(
        self, turn_key: str, after: int | None = None
    ) -> AsyncGenerator[tuple[int, str], None]:
        """(id, payload) of the turn's events after `after` (None: from its first), the stored
        ones and then the live ones, until it finishes. Raises TurnNotFound (unknown or
        expired, also while waiting), ReplayUnavailable (see there). Close it (aclosing) when
        leaving early."""
        check_key(turn_key)
        cursor = start_after(after)
        followed = await self._attach(turn_key)
        try:
            if cursor > followed.last and followed.error is None:
                # Another process may have given that id before the wake-up reached this one.
                await asyncio.shield(self._refresh(followed))
                if cursor > followed.last and followed.error is None:
                    raise ReplayUnavailable(f"Turn {turn_key!r} has no event {cursor}.")
            while True:
                while cursor < followed.last:
                    if cursor + 1 < followed.first:
                        raise ReplayUnavailable(
                            f"The events of turn {turn_key!r} after {cursor} were trimmed."
                        )
                    payload = followed.events[cursor + 1 - followed.first]
                    if payload is None:
                        return
                    cursor += 1
                    yield cursor, payload
                if followed.finished:  # `after` was the end's own id
                    return
                if followed.error is not None:
                    raise type(followed.error)(*followed.error.args)  # each follower its own
                await followed.changed.wait()
        finally:
            self._detach(followed)

    async def aclose(self) -> None:
        """Stop this channel's background work (backends also close their connections)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # What a backend implements ------------------------------------------------------------

    @abstractmethod
    async def _append(self, turn_key: str, payload: str | None) -> int | None:
        """Store the turn's next event (None: its end) and wake the processes that follow it
        (`_deliver` or `_read_again` there); its id, or None if the turn had finished."""

    @abstractmethod
    async def _read(self, turn_key: str, after: int, limit: int) -> Batch:
        """Up to `limit` stored events after id `after`. TurnNotFound if none is stored."""

    @abstractmethod
    async def _watch(self, turn_key: str) -> None:
        """Have this process woken for the turn's new events; return once that holds."""

    @abstractmethod
    async def _unwatch(self, turn_key: str) -> None:
        """Stop waking this process for the turn, unless it is followed again (`_is_followed`)."""

    # What a backend calls, on this channel's event loop ---------------------------------------

    def _deliver(self, turn_key: str, event_id: int, payload: str | None) -> None:
        """A wake-up carrying the event."""
        followed = self._followed.get(turn_key)
        if followed is None:
            return
        if followed.add(event_id, payload):
            followed.wake()
        else:
            self._read_again(turn_key)

    def _read_again(self, turn_key: str) -> None:
        """A wake-up without the event (or after events may have been missed): read them."""
        followed = self._followed.get(turn_key)
        if followed is not None:
            self._refresh(followed)

    def _is_followed(self, turn_key: str) -> bool:
        return turn_key in self._followed

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A background task, kept referenced until it ends; its failure is logged."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning(
                "The turn channel's %s failed", task.get_coro(), exc_info=task.exception()
            )

    # Following ------------------------------------------------------------------------------------

    async def _attach(self, turn_key: str) -> _Followed:
        followed = self._followed.get(turn_key)
        if followed is None:
            followed = self._followed[turn_key] = _Followed(turn_key, self.max_events)
            followed.ready = asyncio.get_running_loop().create_task(self._start(followed))
            if self._sweeper is None or self._sweeper.done():
                self._sweeper = self._spawn(self._sweep())
        followed.followers += 1
        try:
            assert followed.ready is not None
            # Shielded: a follower that leaves meanwhile must not cancel the others' start.
            await asyncio.shield(followed.ready)
        except BaseException:
            self._detach(followed)
            raise
        return followed

    async def _start(self, followed: _Followed) -> None:
        await self._watch(followed.key)
        await self._refresh(followed)

    def _detach(self, followed: _Followed) -> None:
        followed.followers -= 1
        if followed.followers == 0 and self._followed.get(followed.key) is followed:
            del self._followed[followed.key]
            self._spawn(self._unwatch(followed.key))

    def _refresh(self, followed: _Followed) -> asyncio.Task[None]:
        """Read the stored events after the last one known here: one read at a time per turn;
        asked again meanwhile, it reads once more when the current one ends."""
        if followed.reading is None or followed.reading.done():
            followed.reading = self._spawn(self._read_stored(followed))
        else:
            followed.read_again = True
        return followed.reading

    async def _read_stored(self, followed: _Followed) -> None:
        while True:
            followed.read_again = False
            try:
                batch = await self._read(followed.key, followed.last, READ_BATCH)
            except TurnNotFound as error:
                followed.error = error
                if self._followed.get(followed.key) is followed:
                    del self._followed[followed.key]  # a later follower looks again
                    self._spawn(self._unwatch(followed.key))
                followed.wake()
                return
            if batch.events and batch.events[0][0] > followed.last + 1:
                followed.restart_at(batch.events[0][0])
            for event_id, payload in batch.events:
                followed.add(event_id, payload)
            followed.wake()
            if not followed.read_again and followed.last >= batch.newest:
                return

    async def _sweep(self) -> None:
        """While turns are followed here: read each unfinished one again every sweep_every
        seconds — a wake-up lost anyway is recovered, an expired turn ends its followers."""
        while self._followed:
            await asyncio.sleep(self.sweep_every)
            for followed in list(self._followed.values()):
                if not followed.finished:
                    self._refresh(followed)
