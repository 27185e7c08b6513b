"""A turn as work of the worker process, not of the request that started it.

`launch(turn)` publishes the turn's first event (its reset, assistant.stream) to the turn
channel and starts a task on the worker's event loop that runs the turn to its end: finished,
stopped (the Stop flag, from any worker), paused for the user, out of budget or steps, failed
or timed out. Nobody needs to follow it: closing the tab, navigating or losing the connection
leaves it running, and its budget reservation is held until it ends. The task renders the
turn's events to fragments, publishes them, settles the reservation and then finishes the
turn in the channel, so that a follower that sees the end sees everything stored.

Every page that shows the turn follows it (assistant.turn_followers), the response to the
request that started it included.

The turn's synchronous work (the ORM) runs on the process's lanes (assistant.lanes), not on
the one thread asgiref gives code outside requests: turns do not queue behind each other's
queries.

Publishing: the provider sends text in many small deltas, and every event costs a round trip
to Redis or PostgreSQL. An event goes at once when nothing is being published; what the
turn produces while a publish is under way leaves with the next one, a run of text chunks of
one message as one event. So nothing waits on a timer, and a slow channel gets fewer,
larger events. The provider is read meanwhile: a slow channel never holds the turn up.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterator
from contextlib import aclosing, suppress

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections

from ai_settings.conf import app_settings
from assistant import display, local_turns, stream, turn_channel, usage
from assistant.lanes import process_lanes
from assistant.turn_types import Turn

logger = logging.getLogger(__name__)

CHANNEL_RETRY_SECONDS = 60.0
CHANNEL_RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 5.0)

# CHANNEL_FAILURE: the channel is the network (Redis, PostgreSQL), and its backends raise
# their clients' errors (redis, psycopg) besides the channel's own. Whatever it raises, the
# turn goes on and its answer is stored: the failure is logged, and followers fall back on
# what is stored.

# The running turns of this process: the event loop keeps only weak references to tasks.
_running: set[asyncio.Task[None]] = set()


async def launch(turn: Turn) -> int | None:
    """Start running the turn; returns once it can be followed, with the id of its first
    event (None: the channel took none)."""
    reset_published = asyncio.Event()
    local = local_turns.start(turn.key, int(app_settings.TURN_CHANNEL_MAX_EVENTS))
    # A context of its own: the request's (its database thread, above all) ends before the
    # turn may.
    task = asyncio.get_running_loop().create_task(
        _run_on_lane(turn, reset_published, local),
        name=f"chat turn {turn.key}",
        context=contextvars.Context(),
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    # Time to first token: the turn sends its provider request (two steps: its loop starts
    # the step's event pump, the pump sends) before the page's fragments are rendered.
    for _ in range(2):
        await asyncio.sleep(0)
    reset_id = None
    try:
        reset = stream.reset_fragment(turn)
        reset_id = await turn_channel.publish(turn.key, reset)
        local.add(reset_id, reset)
    except Exception:  # CHANNEL_FAILURE
        # The turn still runs and its answer is stored; its followers show it as stored.
        logger.warning("Turn %s: the turn channel took no events", turn.key, exc_info=True)
    finally:
        reset_published.set()  # the turn's own events come after it
    return reset_id


async def wait_for_running() -> None:
    """Until every turn this process runs has ended (a server shutting down, a test)."""
    while _running:
        await asyncio.gather(*_running, return_exceptions=True)


async def _run_on_lane(
    turn: Turn, reset_published: asyncio.Event, local: local_turns.LocalTurn
) -> None:
    async with process_lanes().context():
        await _run(turn, _Publisher(turn.key, reset_published, local))


async def _run(turn: Turn, publisher: _Publisher) -> None:
    try:
        fragments = usage.releasing(turn.admission, stream.turn_fragments(turn))
        async with aclosing(fragments):
            async for fragment in fragments:
                publisher.put(fragment)
    except asyncio.CancelledError:
        # The worker is shutting down: the loop stored the answer as interrupted; the
        # followers get it as stored.
        await _put_stored(publisher, turn)
        raise
    except Exception:  # the loop handles its own faults: this is a last resort
        logger.exception("Chat turn %s failed outside its loop", turn.key)
        await _put_stored(publisher, turn)
    finally:
        await asyncio.shield(_finish(publisher))


async def _put_stored(publisher: _Publisher, turn: Turn) -> None:
    """The turn's answers as stored, for its followers (not when the database is gone too)."""
    try:
        stored = await sync_to_async(display.stored_turn)(turn.key, turn.user, turn.current)
    except DatabaseError:
        return
    publisher.put(stream.settled_fragment(stored))


async def _finish(publisher: _Publisher) -> None:
    await publisher.close()
    publisher.forget()
    # The turn's lane has no request that ends with it: honour CONN_MAX_AGE (and drop a
    # broken connection) here, as the end of a request does.
    with suppress(DatabaseError):
        await sync_to_async(close_old_connections)()


class _Publisher:
    """Publishes a turn's fragments in order, in a task of its own, joining what comes
    while a publish is under way, then finishes the turn."""

    def __init__(
        self, turn_key: str, reset_published: asyncio.Event, local: local_turns.LocalTurn
    ) -> None:
        self._key = turn_key
        self._reset_published = reset_published
        self._local = local
        self._waiting: list[stream.Fragment] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._failing_since: float | None = None
        self._sending = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, fragment: stream.Fragment) -> None:
        if not (self._waiting or self._sending) and self._reset_published.is_set():
            # Nothing before it to wait for: a channel that stores without waiting (in
            # memory) takes it now, and this process's followers have it without the
            # publisher's task in between.
            payload = fragment if isinstance(fragment, str) else stream.chunk_html(fragment)
            try:
                event_id = turn_channel.publish_nowait(self._key, payload)
            except turn_channel.TurnFinished:
                self._local.finish(broken=True)
                return
            if event_id is not None:
                self._local.add(event_id, payload)
                return
        self._waiting.append(fragment)
        self._ready.set()

    async def close(self) -> None:
        """Publish what waits, then finish the turn in the channel."""
        self._closing = True
        self._ready.set()
        await self._task

    def forget(self) -> None:
        """New followers here read the channel from now on."""
        self._local.finish()
        local_turns.end(self._key)

    async def _run(self) -> None:
        await self._reset_published.wait()
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._waiting = self._waiting, []
            self._sending = True
            for payload in _joined(batch):
                await self._send(payload)
            self._sending = False
            if self._closing and not self._waiting:
                await self._send(None)
                return

    async def _send(self, payload: str | None) -> None:
        """Publish the payload (None: finish the turn), then hand it to this process's
        followers. While the channel fails (Redis or PostgreSQL restarting), try again for up
        to CHANNEL_RETRY_SECONDS, in order, so that followers get every event once it is back;
        past that, each event is tried once, and followers fall back on the answer as
        stored."""
        loop = asyncio.get_running_loop()
        pauses = iter(CHANNEL_RETRY_PAUSES)
        while True:
            try:
                if payload is None:
                    await turn_channel.finish(self._key)
                    self._local.finish()
                else:
                    self._local.add(await turn_channel.publish(self._key, payload), payload)
            except turn_channel.TurnFinished:
                # Another process ended the turn (it took this worker for dead): what it
                # published is the end; the followers here show the answer as stored.
                self._local.finish(broken=True)
                return
            except Exception:  # CHANNEL_FAILURE
                now = loop.time()
                if self._failing_since is None:
                    self._failing_since = now
                    logger.warning("Turn %s: the turn channel failed", self._key, exc_info=True)
                if now - self._failing_since >= CHANNEL_RETRY_SECONDS:
                    self._local.finish(broken=True)
                    return
                await asyncio.sleep(next(pauses, CHANNEL_RETRY_PAUSES[-1]))
            else:
                self._failing_since = None
                return


def _joined(batch: list[stream.Fragment]) -> Iterator[str]:
    """The batch's payloads: consecutive chunks of one kind and message joined, in order."""
    pending: stream.Chunk | None = None
    for fragment in batch:
        if isinstance(fragment, stream.Chunk):
            if pending is not None and (pending.kind, pending.message_id) == (
                fragment.kind,
                fragment.message_id,
            ):
                pending = stream.Chunk(
                    pending.kind, pending.message_id, pending.text + fragment.text
                )
                continue
            if pending is not None:
                yield stream.chunk_html(pending)
            pending = fragment
            continue
        if pending is not None:
            yield stream.chunk_html(pending)
            pending = None
        yield fragment
    if pending is not None:
        yield stream.chunk_html(pending)
