"""The turn channel on Redis, for a project whose default cache is Django's RedisCache.

Storage: each turn is a Redis Stream (names below) whose entry ids are 0-1, 0-2, … (the
event ids). A Lua script appends an event in one atomic step: it numbers it after the newest
entry, adds it (XADD MAXLEN: at most max_events entries are kept), makes the whole stream
expire `retention` seconds after it (PEXPIRE) and publishes it on the turn's pub/sub
channel. Appends waiting meanwhile go together in one pipeline (channel.Batches). A replay
is one XRANGE (and XREVRANGE for the newest id) per process and turn: followers read the
process's copy (assistant.turn_channel.channel).

Wake-ups: one connection per process (per event loop) in pub/sub mode, subscribed to the
channels of the turns followed in this process and to no others: SUBSCRIBE when a turn gets
its first local follower (the follower starts once Redis confirms it), UNSUBSCRIBE when it
loses its last. Each message carries the event itself, so a wake-up costs no read. There is
no blocking read per follower and no polling: one task reads that connection. When the
connection drops, the task reconnects (with a growing pause), subscribes again to every
followed turn and, at each confirmation, reads the stored events of that turn again: the
messages published meanwhile are lost, the events are not.

Names: `[<the cache's KEY_PREFIX>:]assistant:turn:<turn key>` for a stream, the same with the
database number before the turn key for its pub/sub channel (pub/sub channels belong to the
server, not to one of its databases): sites sharing a Redis server never hear each other.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from contextlib import suppress
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from assistant.turn_channel.channel import Batch, Batches, TurnChannel, TurnNotFound

logger = logging.getLogger(__name__)

# KEYS[1]: the turn's stream. ARGV: payload, "1" for the end, max entries, expiry in ms, the
# pub/sub channel. The new id, or -1 when the turn had finished.
APPEND = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = 1
if newest[1] then
  if newest[1][2][1] == 'e' then
    return -1
  end
  id = tonumber(string.sub(newest[1][1], 3)) + 1
end
if ARGV[2] == '1' then
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '0-' .. id, 'e', '')
  redis.call('PUBLISH', ARGV[5], id .. ' e')
else
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '0-' .. id, 'p', ARGV[1])
  redis.call('PUBLISH', ARGV[5], id .. ' p' .. ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return id
"""

CONFIRM_TIMEOUT = 10.0  # seconds a new follower waits for Redis to confirm its subscription
RECONNECT_PAUSES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
PREFIX = "assistant:turn:"

_LOST = (RedisConnectionError, RedisTimeoutError, OSError)


def _event_id(entry_id: str) -> int:
    return int(entry_id[2:])  # "0-<id>"


class RedisChannel(TurnChannel):
    def __init__(
        self,
        url: str,
        *,
        retention: float,
        max_events: int,
        sweep_every: float = 30.0,
        key_prefix: str = "",
        max_connections: int = 16,
    ) -> None:
        super().__init__(retention=retention, max_events=max_events, sweep_every=sweep_every)
        # A bounded pool: a burst of publishes and reads waits for a connection rather than
        # opening hundreds.
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=20,
            decode_responses=True,
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        self._redis = redis.Redis(connection_pool=self._pool)
        self._append_script = self._redis.register_script(APPEND)
        self._appends: Batches[tuple[str, list[Any]], int | None] = Batches(self, self._write)
        db = self._pool.connection_kwargs.get("db", 0)
        # The cache's KEY_PREFIX keeps two sites on one Redis database apart, the database
        # number two sites on two databases (pub/sub channels are the server's, not a db's).
        self._key_prefix = f"{key_prefix}:{PREFIX}" if key_prefix else PREFIX
        self._topic_prefix = f"{self._key_prefix}{db}:"
        self._lock = asyncio.Lock()  # orders (un)subscribing and reconnecting
        self._subscriber: Any = None  # the pub/sub connection, while connected
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: dict[str, str] = {}  # turn key → its pub/sub channel
        self._keys: dict[str, str] = {}  # pub/sub channel → turn key
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # The pub/sub connection's name (CLIENT LIST), to tell it in the server's view.
        self.listener_name = f"turn-channel-{os.getpid()}-{id(self):x}"

    def _stream(self, turn_key: str) -> str:
        return self._key_prefix + turn_key

    def _topic(self, turn_key: str) -> str:
        return self._topic_prefix + turn_key

    async def _append(self, turn_key: str, payload: str | None) -> int | None:
        arguments = [
            payload or "",
            "1" if payload is None else "0",
            self.max_events,
            max(1, round(self.retention * 1000)),
            self._topic(turn_key),
        ]
        return await self._appends.put((self._stream(turn_key), arguments))

    async def _write(self, batch: list[tuple[str, list[Any]]]) -> list[int | Exception | None]:
        """One pipeline (not a transaction: each script is atomic by itself) per batch."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream, arguments in batch:
                await self._append_script(keys=[stream], args=arguments, client=pipe)
            results = await pipe.execute(raise_on_error=False)
        return [
            result if isinstance(result, Exception) else (None if result < 0 else int(result))
            for result in results
        ]

    async def _read(self, turn_key: str, after: int, limit: int) -> Batch:
        stream = self._stream(turn_key)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xrevrange(stream, "+", "-", count=1)
            pipe.xrange(stream, f"0-{after + 1}", "+", count=limit)
            newest, entries = await pipe.execute()
        if not newest:
            raise TurnNotFound(f"Turn {turn_key!r} is unknown or has expired.")
        events = [(_event_id(i), None if "e" in fields else fields["p"]) for i, fields in entries]
        return Batch(events, _event_id(newest[0][0]))

    # Wake-ups ---------------------------------------------------------------------------------

    async def _watch(self, turn_key: str) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._listener is None or self._listener.done():
                self._listener = self._spawn(self._listen())
            if turn_key in self._subscribed:
                confirmation = self._confirmations.get(turn_key)
            else:
                topic = self._topic(turn_key)
                self._subscribed[turn_key] = topic
                self._keys[topic] = turn_key
                confirmation = self._confirmations[turn_key] = loop.create_future()
                # Without a connection now, the listener subscribes when it has one again.
                await self._send("SUBSCRIBE", topic)
        if confirmation is not None:
            try:
                async with asyncio.timeout(CONFIRM_TIMEOUT):
                    await asyncio.shield(confirmation)
            except TimeoutError:
                raise RedisConnectionError(
                    "Redis did not confirm the turn channel's subscription"
                ) from None

    async def _unwatch(self, turn_key: str) -> None:
        async with self._lock:
            if self._is_followed(turn_key) or turn_key not in self._subscribed:
                return
            topic = self._subscribed.pop(turn_key)
            self._keys.pop(topic, None)
            self._confirmations.pop(turn_key, None)
            await self._send("UNSUBSCRIBE", topic)

    async def _send(self, *command: str) -> None:
        """On the pub/sub connection if it is up (with self._lock held); when it is not, the
        listener's reconnection subscribes to what self._subscribed holds then."""
        subscriber = self._subscriber
        if subscriber is None or not subscriber.is_connected:
            return
        # A lost connection: the listener sees it fail too, and reconnects.
        with suppress(*_LOST):
            await subscriber.send_command(*command, check_health=False)

    async def _listen(self) -> None:
        """The process's one reader of the pub/sub connection, for as long as the channel."""
        failures = 0
        while True:
            subscriber = self._pool.connection_class(
                **{**self._pool.connection_kwargs, "client_name": self.listener_name}
            )
            try:
                async with self._lock:
                    # redis-py leaves Connection.connect() unannotated.
                    await subscriber.connect()  # type: ignore[no-untyped-call]
                    self._subscriber = subscriber
                    if self._subscribed:
                        await subscriber.send_command(
                            "SUBSCRIBE", *self._subscribed.values(), check_health=False
                        )
                failures = 0
                while True:
                    self._receive(
                        await subscriber.read_response(timeout=math.inf, push_request=True)
                    )
            except _LOST as error:
                self._subscriber = None
                await subscriber.disconnect(nowait=True)
                pause = RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)]
                failures += 1
                logger.warning(
                    "The turn channel lost Redis pub/sub (%s); reconnecting in %s s", error, pause
                )
                await asyncio.sleep(pause)
            except BaseException:
                self._subscriber = None
                await subscriber.disconnect(nowait=True)
                raise

    def _receive(self, response: list[Any]) -> None:
        kind, topic, data = response[0], response[1], response[2]
        turn_key = self._keys.get(topic)
        if turn_key is None:
            return
        if kind == "message":
            event_id, _, rest = data.partition(" ")
            payload = rest[1:] if rest[:1] == "p" else None
            self._deliver(turn_key, int(event_id), payload)
        elif kind == "subscribe":
            confirmation = self._confirmations.pop(turn_key, None)
            if confirmation is not None:
                if not confirmation.done():
                    confirmation.set_result(None)  # the new follower reads the stored events
            else:
                self._read_again(turn_key)  # subscribed again after a reconnection

    async def aclose(self) -> None:
        await super().aclose()
        await self._redis.aclose()
        await self._pool.disconnect()
