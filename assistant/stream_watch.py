"""The database work of every answer streaming in this process, batched: one task per event
loop reads the Stop flags of all of them and writes their progress, every TICK seconds.

Why: with hundreds of concurrent streams, a query per stream per half second (and one
database connection held per stream) would swamp the database. Here the cost per tick is one
SELECT for all Stop flags plus one UPDATE per stream that has new text, and every
TURN_HEARTBEAT_SECONDS one UPDATE of all their heartbeats (assistant.heartbeat: how an answer whose
worker died is told from a live one), on one dedicated thread and connection. The Stop flag
itself lives in the database (Message.stop_requested, set by whichever worker serves the Stop
button); this process only remembers which of its own streams to look for, and forgets each
when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from assistant import heartbeat
from assistant.models import Message
from assistant.per_loop import PerLoop

logger = logging.getLogger(__name__)

TICK = 0.5  # seconds between two reads of the Stop flags

# One thread, so one database connection, for the ticks of every event loop.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-stream-watch")


@dataclass
class _Watched:
    on_stop: Callable[[], None]
    progress: tuple[str, str] | None = None  # (content, reasoning) not saved yet


# Ids per statement: well under SQLite's smallest limit on query parameters (999).
BATCH = 500


def _in_batches(ids: list[int]) -> list[tuple[str, list[int]]]:
    """("IN (%s, …)", ids) per batch of ids."""
    batches = [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]
    return [(f"IN ({', '.join(['%s'] * len(batch))})", batch) for batch in batches]


def _close_connection() -> None:
    """Close this thread's connection (the name is looked up here, in the watch's thread:
    `connection` is per thread)."""
    connection.close()


def _tick_sync(ids: list[int], progress: dict[int, tuple[str, str]], beat: bool) -> set[int]:
    """Save progress (only while the message still streams, so a late tick never overwrites
    the final save), with `beat` refresh every stream's heartbeat, and return the ids whose
    Stop flag is set.

    Plain SQL, as this runs every half second for every stream of the process: through the
    ORM, building one UPDATE per stream and the id lists took a fifth of a worker's CPU at
    500 open streams; here the progress saves are one executemany. The thread keeps its
    connection from tick to tick while streams run and drops it on any database error, so
    the next tick reconnects after a database restart."""
    # The statements hold only this quoted table name and %s placeholders: every value is a
    # parameter, so bandit's S608 (SQL built from strings) is waived on each.
    table = connection.ops.quote_name(Message._meta.db_table)
    streaming = Message.Status.STREAMING.value
    try:
        with connection.cursor() as cursor:
            if progress or beat:
                now = connection.ops.adapt_datetimefield_value(timezone.now())
                with transaction.atomic():  # one commit for all the streams' writes
                    if progress:
                        cursor.executemany(
                            f"UPDATE {table} SET content = %s, reasoning = %s, heartbeat_at = %s"  # noqa: S608
                            " WHERE id = %s AND status = %s",
                            [
                                (content, reasoning, now, message_id, streaming)
                                for message_id, (content, reasoning) in progress.items()
                            ],
                        )
                    if beat:
                        for in_batch, batch in _in_batches(ids):
                            cursor.execute(
                                f"UPDATE {table} SET heartbeat_at = %s"  # noqa: S608
                                f" WHERE status = %s AND id {in_batch}",
                                [now, streaming, *batch],
                            )
            stopped: set[int] = set()
            for in_batch, batch in _in_batches(ids):
                cursor.execute(
                    f"SELECT id FROM {table} WHERE stop_requested AND id {in_batch}",  # noqa: S608
                    batch,
                )
                stopped.update(row[0] for row in cursor.fetchall())
        return stopped
    except DatabaseError:
        _close_connection()
        raise


class StreamWatch:
    """Per event loop: the streams to watch, and the task that ticks while there are any."""

    def __init__(self) -> None:
        self._watched: dict[int, _Watched] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, message_id: int, on_stop: Callable[[], None]) -> None:
        self._watched[message_id] = _Watched(on_stop)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def forget(self, message_id: int) -> None:
        self._watched.pop(message_id, None)

    def save_progress(self, message_id: int, content: str, reasoning: str) -> None:
        """Write this text at the next tick (the latest call wins)."""
        watched = self._watched.get(message_id)
        if watched is not None:
            watched.progress = (content, reasoning)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + heartbeat.heartbeat_seconds()
        while self._watched:
            await asyncio.sleep(TICK)
            beat = loop.time() >= next_beat
            progress = {}
            for message_id, watched in self._watched.items():
                if watched.progress is not None:
                    progress[message_id] = watched.progress
                    watched.progress = None
            try:
                stopped = await loop.run_in_executor(
                    _executor, _tick_sync, list(self._watched), progress, beat
                )
            except DatabaseError:  # a database hiccup must not end every stream's watch
                logger.exception("Reading the chat's Stop flags failed; trying again")
                continue
            if beat:
                next_beat = loop.time() + heartbeat.heartbeat_seconds()
            for message_id in stopped:
                stopping = self._watched.pop(message_id, None)
                if stopping is not None:
                    stopping.on_stop()
            if not self._watched:
                # No stream left: give the connection back until the next one starts (a
                # stream watched meanwhile keeps this loop going).
                await loop.run_in_executor(_executor, _close_connection)


_watches = PerLoop(StreamWatch)


def stream_watch() -> StreamWatch:
    """The watch of the running event loop."""
    return _watches.get()
