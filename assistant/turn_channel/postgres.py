"""The turn channel on PostgreSQL, for a project whose default database is PostgreSQL and
whose cache is not Redis.

Storage: one row per event (assistant.models.TurnEvent). One statement appends an event: it
numbers it after the turn's newest row (and adds nothing after the turn's end), deletes the
turn's rows beyond max_events, and NOTIFYs the turn's channel; PostgreSQL delivers the
notification when the row is committed, so a woken follower always finds it. Appends waiting
meanwhile go together in one pipeline, committed at its end (channel.Batches). A turn whose
newest row is older than `retention` reads as unknown; its rows are deleted by the clean-up
that finish() starts, at most once per `sweep_every` per process.

Wake-ups: one connection per process (per event loop) LISTENs on the channels of the turns
followed in this process and on no others, read by one task with psycopg's notifies(). As
notifies() holds that connection while it waits, a new follower's LISTEN (or a last one's
UNLISTEN) interrupts it with a NOTIFY on the listener's own control channel: the task then
relays the other notifications that came with it, runs every pending LISTEN/UNLISTEN,
confirms them, and waits again; the new follower reads
the stored events once its LISTEN holds. A notification carries the event when it fits
(NOTIFY takes under 8000 bytes), otherwise only its id, and the process reads the rows after
the last event it has. No polling and no connection per follower. When the listening
connection drops, the task reconnects, LISTENs again and reads every followed turn again.

A second connection per process appends and reads, for one caller at a time (`_querying`):
psycopg runs one statement at a time on a connection, but while a pipeline is open another
coroutine's statements would join it (and fail, or be committed with it), so a pipeline holds
the connection to its end. Both are autocommit connections of their own, outside Django's
request transactions.
Appends commit with synchronous_commit off: events are a relay, not the record (the chat
stores the answer in its message).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.errors import UniqueViolation

from assistant.models import TurnEvent
from assistant.turn_channel.channel import Batch, Batches, TurnChannel, TurnNotFound

logger = logging.getLogger(__name__)

NOTIFY_PAYLOAD = 7800  # bytes of payload a notification carries (PostgreSQL's limit: 8000)
RECONNECT_PAUSES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CONFIRM_TIMEOUT = 10.0
# Two publishers of one turn at once (not the intended use) may number the same event: retry.
APPEND_ATTEMPTS = 3

_TABLE = sql.Identifier(TurnEvent._meta.db_table)

_APPEND = sql.SQL(
    """
    WITH newest AS (
        SELECT seq, is_last FROM {table} WHERE turn_key = %(key)s ORDER BY seq DESC LIMIT 1
    ), added AS (
        INSERT INTO {table} (turn_key, seq, payload, is_last, created_at)
        SELECT %(key)s, COALESCE((SELECT seq FROM newest), 0) + 1, %(payload)s, %(is_last)s,
               now()
        WHERE NOT COALESCE((SELECT is_last FROM newest), false)
        RETURNING seq
    ), trimmed AS (
        DELETE FROM {table}
        WHERE turn_key = %(key)s AND seq <= (SELECT seq FROM added) - %(max_events)s
    )
    SELECT seq, pg_notify(%(topic)s, seq || %(notice)s) FROM added
    """
).format(table=_TABLE)

_READ = sql.SQL(
    """
    SELECT newest.seq, newest.created_at > now() - make_interval(secs => %(retention)s),
           event.seq, event.payload, event.is_last
    FROM (
        SELECT seq, created_at FROM {table} WHERE turn_key = %(key)s ORDER BY seq DESC LIMIT 1
    ) AS newest
    LEFT JOIN LATERAL (
        SELECT seq, payload, is_last FROM {table}
        WHERE turn_key = %(key)s AND seq > %(after)s ORDER BY seq LIMIT %(limit)s
    ) AS event ON true
    ORDER BY event.seq
    """
).format(table=_TABLE)

# The rows of turns whose newest row is older than the retention.
_EXPIRE = sql.SQL(
    """
    DELETE FROM {table} AS old
    WHERE old.created_at < now() - make_interval(secs => %(retention)s)
      AND (SELECT newest.created_at FROM {table} AS newest
           WHERE newest.turn_key = old.turn_key ORDER BY newest.seq DESC LIMIT 1)
          < now() - make_interval(secs => %(retention)s)
    """
).format(table=_TABLE)


def _event_id(row: tuple[Any, ...] | None) -> int | None:
    return None if row is None else row[0]  # no row: the turn had finished


def _topic(turn_key: str) -> str:
    """The turn's NOTIFY channel: an identifier of PostgreSQL's length whatever the key."""
    return "turn_" + hashlib.sha256(turn_key.encode()).hexdigest()[:40]


class PostgresChannel(TurnChannel):
    def __init__(
        self,
        params: dict[str, Any],
        *,
        retention: float,
        max_events: int,
        sweep_every: float = 30.0,
    ) -> None:
        super().__init__(retention=retention, max_events=max_events, sweep_every=sweep_every)
        self._params = params
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._connecting = asyncio.Lock()
        self._in_use = asyncio.Lock()  # the query connection's one caller at a time
        self._control = f"turn_channel_{os.getpid()}_{id(self):x}"
        # The listening connection's application_name (pg_stat_activity), to tell it apart.
        self.listener_name = self._control.replace("_", "-")
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: dict[str, str] = {}  # turn key → its channel (wanted)
        self._keys: dict[str, str] = {}  # channel → turn key
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._interrupting = False
        self._expired_at = 0.0
        self._appends: Batches[dict[str, Any], int | None] = Batches(self, self._write)

    @staticmethod
    def params_of(database: Any) -> dict[str, Any]:
        """psycopg's connection parameters of a Django PostgreSQL connection (the ones its
        own synchronous cursors need are left out)."""
        params = dict(database.get_connection_params())
        for name in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(name, None)
        return params

    async def _query_connection(self) -> psycopg.AsyncConnection[Any]:
        connection = self._connection
        if connection is not None and not connection.closed and not connection.broken:
            return connection
        async with self._connecting:
            connection = self._connection
            if connection is None or connection.closed or connection.broken:
                connection = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
                # An event is committed without waiting for its WAL flush (the turn's answer
                # itself is stored with the message): the wake-up leaves about a disk flush
                # sooner; a crash of the server loses at most its last fraction of a second.
                await connection.execute("SET synchronous_commit TO off")
                self._connection = connection
            return connection

    @asynccontextmanager
    async def _querying(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The query connection, for this caller alone until the block ends (its statements
        and their results, a whole pipeline)."""
        async with self._in_use:
            yield await self._query_connection()

    async def _append(self, turn_key: str, payload: str | None) -> int | None:
        if payload is None:
            notice = " e"
        elif len(payload.encode()) <= NOTIFY_PAYLOAD:
            notice = " p" + payload
        else:
            notice = " n"  # too long to carry: followers read the row
        params = {
            "key": turn_key,
            "payload": payload or "",
            "is_last": payload is None,
            "max_events": self.max_events,
            "topic": _topic(turn_key),
            "notice": notice,
        }
        event_id = await self._appends.put(params)
        if payload is None:
            self._expire_soon()
        return event_id

    async def _write(self, batch: list[dict[str, Any]]) -> list[int | Exception | None]:
        """A batch in one pipeline: one round trip, and one transaction (autocommit pipelines
        commit at their end), so a failed append rolls the batch back; then one at a time."""
        try:
            async with self._querying() as connection:
                async with connection.pipeline():
                    cursors = [await connection.execute(_APPEND, params) for params in batch]
                return [_event_id(await cursor.fetchone()) for cursor in cursors]
        except UniqueViolation:
            results: list[int | Exception | None] = []
            for params in batch:
                try:
                    results.append(await self._write_one(params))
                except UniqueViolation as error:
                    results.append(error)
            return results

    async def _write_one(self, params: dict[str, Any]) -> int | None:
        attempt = 1
        while True:
            try:
                async with self._querying() as connection:
                    cursor = await connection.execute(_APPEND, params)
                    return _event_id(await cursor.fetchone())
            except UniqueViolation:
                if attempt == APPEND_ATTEMPTS:
                    raise
                attempt += 1

    async def _read(self, turn_key: str, after: int, limit: int) -> Batch:
        async with self._querying() as connection:
            cursor = await connection.execute(
                _READ,
                {"key": turn_key, "after": after, "limit": limit, "retention": self.retention},
            )
            rows = await cursor.fetchall()
        if not rows or not rows[0][1]:
            raise TurnNotFound(f"Turn {turn_key!r} is unknown or has expired.")
        events = [
            (event_id, None if is_last else payload)
            for _, _, event_id, payload, is_last in rows
            if event_id is not None
        ]
        return Batch(events, rows[0][0])

    def _expire_soon(self) -> None:
        now = time.monotonic()
        if now - self._expired_at >= self.sweep_every:
            self._expired_at = now
            self._spawn(self._expire())

    async def _expire(self) -> None:
        async with self._querying() as connection:
            await connection.execute(_EXPIRE, {"retention": self.retention})

    # Wake-ups -----------------------------------------------------------------------------

    async def _watch(self, turn_key: str) -> None:
        loop = asyncio.get_running_loop()
        if self._listener is None or self._listener.done():
            self._listener = self._spawn(self._listen())
        if turn_key not in self._subscribed:
            topic = self._subscribed[turn_key] = _topic(turn_key)
            self._keys[topic] = turn_key
            self._confirmations[turn_key] = loop.create_future()
        confirmation = self._confirmations.get(turn_key)
        if confirmation is None:
            return
        await self._interrupt()
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await asyncio.shield(confirmation)
        except TimeoutError:
            raise psycopg.OperationalError(
                "PostgreSQL did not confirm the turn channel's LISTEN"
            ) from None

    async def _unwatch(self, turn_key: str) -> None:
        if self._is_followed(turn_key) or turn_key not in self._subscribed:
            return
        self._keys.pop(self._subscribed.pop(turn_key), None)
        self._confirmations.pop(turn_key, None)
        await self._interrupt()

    async def _interrupt(self) -> None:
        """Have the listener run the pending LISTEN/UNLISTEN (one NOTIFY for any number)."""
        if self._interrupting:
            return
        self._interrupting = True
        try:
            async with self._querying() as connection:
                await connection.execute("SELECT pg_notify(%s, '')", [self._control])
        except psycopg.OperationalError:
            # The listener reconnects too (both lost the server), and then LISTENs anyway.
            self._interrupting = False

    async def _listen(self) -> None:
        """The process's one reader of the listening connection, for as long as the channel."""
        failures = 0
        reconnected = False
        while True:
            connection: psycopg.AsyncConnection[Any] | None = None
            try:
                connection = await psycopg.AsyncConnection.connect(
                    **{**self._params, "application_name": self.listener_name}, autocommit=True
                )
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._control)))
                listening: set[str] = set()
                failures = 0
                while True:
                    self._interrupting = False
                    await self._apply(connection, listening, reconnected)
                    reconnected = False
                    await self._receive_until_interrupted(connection)
            except psycopg.OperationalError as error:
                pause = RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)]
                failures += 1
                reconnected = True
                logger.warning(
                    "The turn channel lost its LISTEN connection (%s); reconnecting in %s s",
                    error,
                    pause,
                )
                await asyncio.sleep(pause)
            finally:
                if connection is not None:
                    await connection.close()

    async def _receive_until_interrupted(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Relay the notifications until the control channel's. One packet's notifications at
        a time (stop_after=1 ends notifies() after the packet with the first one): leaving
        notifies() in the middle of a packet would lose the rest of it, the wake-ups that came
        with the control notice."""
        interrupted = False
        while not interrupted:
            async with aclosing(connection.notifies(stop_after=1)) as notices:
                async for notice in notices:
                    if notice.channel == self._control:
                        interrupted = True
                    else:
                        self._receive(notice.channel, notice.payload)

    async def _apply(
        self, connection: psycopg.AsyncConnection[Any], listening: set[str], reconnected: bool
    ) -> None:
        """LISTEN to the channels wanted now and not yet, UNLISTEN the others; confirm."""
        wanted = dict(self._subscribed)
        new = [topic for topic in wanted.values() if topic not in listening]
        gone = listening - set(wanted.values())
        commands = [sql.SQL("LISTEN {}").format(sql.Identifier(topic)) for topic in new] + [
            sql.SQL("UNLISTEN {}").format(sql.Identifier(topic)) for topic in gone
        ]
        if commands:  # one round trip for all of them
            await connection.execute(sql.SQL("; ").join(commands))
        listening.update(new)
        listening.difference_update(gone)
        for turn_key in wanted:
            confirmation = self._confirmations.pop(turn_key, None)
            if confirmation is not None:
                if not confirmation.done():
                    confirmation.set_result(None)  # the new follower reads the stored events
            elif reconnected:
                self._read_again(turn_key)

    def _receive(self, topic: str, notice: str) -> None:
        turn_key = self._keys.get(topic)
        if turn_key is None:
            return
        event_id, _, rest = notice.partition(" ")
        kind = rest[:1]
        if kind == "p":
            self._deliver(turn_key, int(event_id), rest[1:])
        elif kind == "e":
            self._deliver(turn_key, int(event_id), None)
        else:
            self._read_again(turn_key)

    async def aclose(self) -> None:
        await super().aclose()
        if self._connection is not None:
            await self._connection.close()
