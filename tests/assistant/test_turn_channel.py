"""The turn channel (assistant.turn_channel): every backend this run has the servers for —
in memory always, Redis when the default cache is Redis (CACHE_URL=redis://…), PostgreSQL
when the database is (DATABASE_URL=postgres://…) — replays after an id, delivers live events
to every follower once, resumes after a drop without a gap or a duplicate, ends followers at
finish, expires, and carries events from another OS process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from django.test import override_settings
from django.utils.module_loading import import_string

from assistant import turn_channel
from assistant.turn_channel import (
    ReplayUnavailable,
    TurnChannel,
    TurnFinished,
    TurnNotFound,
    configured_channel,
    event_id_from_header,
)
from assistant.turn_channel.memory import MemoryChannel
from tests.support.turn_channel_publisher import payload

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0  # seconds any single step may take before the test fails

_cache = settings.CACHES["default"]
REDIS_URL = _cache["LOCATION"] if issubclass(import_string(_cache["BACKEND"]), RedisCache) else None
ON_POSTGRES = connections["default"].vendor == "postgresql"
# PostgreSQL: the test database holds the table (django_db has pytest-django create it); the
# channel writes on connections of its own, outside the test's transaction.
_POSTGRES = pytest.param("postgres", marks=pytest.mark.django_db)
SERVERS = (["redis"] if REDIS_URL else []) + ([_POSTGRES] if ON_POSTGRES else [])
BACKENDS = ["memory", *SERVERS]


def _postgres_params() -> dict:
    from assistant.turn_channel.postgres import PostgresChannel

    return PostgresChannel.params_of(connections["default"])


def _open(backend: str, **options) -> TurnChannel:
    options = {"retention": 60.0, "max_events": 1000, **options}
    if backend == "redis":
        from assistant.turn_channel.redis_streams import RedisChannel

        return RedisChannel(REDIS_URL, **options)
    if backend == "postgres":
        from assistant.turn_channel.postgres import PostgresChannel

        return PostgresChannel(_postgres_params(), **options)
    return MemoryChannel(**options)


OpenChannel = Callable[..., TurnChannel]


async def _channels(request) -> AsyncIterator[OpenChannel]:
    opened: list[TurnChannel] = []

    def open_channel(**options) -> TurnChannel:
        channel = _open(request.param, **options)
        opened.append(channel)
        return channel

    yield open_channel
    for channel in opened:
        await channel.aclose()


@pytest.fixture(params=BACKENDS)
async def open_channel(request) -> AsyncIterator[OpenChannel]:
    """Opens channels on one backend (each as another process would have it); closes them."""
    async for opener in _channels(request):
        yield opener


@pytest.fixture(
    params=SERVERS
    or [
        pytest.param(
            "none", marks=pytest.mark.skip("needs CACHE_URL=redis:// or a PostgreSQL DATABASE_URL")
        )
    ]
)
async def open_server_channel(request) -> AsyncIterator[OpenChannel]:
    """The same, on the backends with a server (Redis, PostgreSQL) configured for this run."""
    async for opener in _channels(request):
        yield opener


def new_key() -> str:
    return f"test-{uuid.uuid4().hex}"


async def collect(channel: TurnChannel, key: str, after: int | None = None, limit: int = 0):
    """The (id, payload) pairs a follower gets (the first `limit` only, if given)."""
    got = []
    async with aclosing(channel.follow(key, after)) as events:
        async for event in events:
            got.append(event)
            if limit and len(got) == limit:
                break
    return got


async def until_followed(channel: TurnChannel, key: str, followers: int = 1) -> None:
    """Until `followers` followers of the turn have started (their replay read)."""
    async with asyncio.timeout(WAIT):
        while True:
            followed = channel._followed.get(key)
            if (
                followed is not None
                and followed.followers >= followers
                and followed.ready is not None
                and followed.ready.done()
            ):
                return
            await asyncio.sleep(0.005)


# Replay, live, resume, finish -----------------------------------------------------------------


async def test_ids_count_up_from_one_per_turn(open_channel: OpenChannel):
    channel = open_channel()
    first, second = new_key(), new_key()
    assert [await channel.publish(first, "a"), await channel.publish(first, "b")] == [1, 2]
    assert await channel.publish(second, "c") == 1
    assert await channel.publish(first, "d") == 3


async def test_publishers_of_one_turn_at_once_still_number_it_without_a_gap(
    open_channel: OpenChannel,
):
    """One worker publishes a turn; were two to (or one not awaiting each publish), every
    event still gets its own id, and batched appends keep each publisher's order."""
    first, second = open_channel(), open_channel()
    key = new_key()
    await first.publish(key, "start")
    ids = await asyncio.gather(
        *(channel.publish(key, f"{n}") for n in range(40) for channel in (first, second))
    )
    assert sorted(ids) == list(range(2, 82))
    await first.finish(key)
    events = await collect(second, key)
    assert [event_id for event_id, _ in events] == list(range(1, 82))
    from_first = [int(text) for event_id, text in events[1:] if ids.index(event_id) % 2 == 0]
    assert from_first == list(range(40))


async def test_a_follower_gets_the_stored_events_after_the_id_it_gives(open_channel: OpenChannel):
    publisher, follower = open_channel(), open_channel()
    key = new_key()
    for number in range(1, 6):
        await publisher.publish(key, payload(number))
    await publisher.finish(key)

    assert await collect(follower, key, after=2) == [(n, payload(n)) for n in (3, 4, 5)]
    assert await collect(follower, key) == [(n, payload(n)) for n in range(1, 6)]
    assert await collect(follower, key, after=5) == []


async def test_two_followers_get_every_live_event_once(open_channel: OpenChannel):
    publisher, follower = open_channel(), open_channel()
    key = new_key()
    await publisher.publish(key, payload(1))
    tasks = [asyncio.create_task(collect(follower, key)) for _ in range(2)]
    await until_followed(follower, key, 2)
    for number in range(2, 21):
        await publisher.publish(key, payload(number))
    await publisher.finish(key)

    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(*tasks)
    expected = [(n, payload(n)) for n in range(1, 21)]
    assert results == [expected, expected]


async def test_a_follower_resuming_after_a_drop_gets_no_gap_and_no_duplicate(
    open_channel: OpenChannel,
):
    publisher, follower = open_channel(), open_channel()
    key = new_key()
    await publisher.publish(key, payload(1))
    dropped = asyncio.create_task(collect(follower, key, limit=5))
    await until_followed(follower, key)
    for number in range(2, 9):
        await publisher.publish(key, payload(number))
    async with asyncio.timeout(WAIT):
        before = await dropped  # the connection "dropped" after its fifth event
    last_id = before[-1][0]
    resumed = asyncio.create_task(collect(follower, key, after=last_id))
    await until_followed(follower, key)
    for number in range(9, 13):
        await publisher.publish(key, payload(number))
    await publisher.finish(key)

    async with asyncio.timeout(WAIT):
        after = await resumed
    assert [event_id for event_id, _ in before + after] == list(range(1, 13))
    assert [text for _, text in before + after] == [payload(n) for n in range(1, 13)]


async def test_a_follower_resuming_with_an_id_this_process_has_not_heard_of_yet_goes_on(
    open_channel: OpenChannel,
):
    """Its connection dropped on another worker, which had the event a moment before this one
    (its wake-up still on the way here)."""
    publisher, follower = open_channel(), open_channel()
    key = new_key()
    await publisher.publish(key, "1")
    first = asyncio.create_task(collect(follower, key))  # the turn is followed here already
    await until_followed(follower, key)
    latest = await publisher.publish(key, "2")
    resumed = asyncio.create_task(collect(follower, key, after=latest))
    await until_followed(follower, key, 2)
    await publisher.publish(key, "3")
    await publisher.finish(key)
    async with asyncio.timeout(WAIT):
        assert await resumed == [(3, "3")]
        assert await first == [(1, "1"), (2, "2"), (3, "3")]


async def test_finish_ends_every_waiting_follower(open_channel: OpenChannel):
    publisher, follower = open_channel(), open_channel()
    key = new_key()
    await publisher.publish(key, "only")
    tasks = [asyncio.create_task(collect(follower, key)) for _ in range(3)]
    await until_followed(follower, key, 3)
    await publisher.finish(key)
    async with asyncio.timeout(WAIT):
        assert await asyncio.gather(*tasks) == [[(1, "only")]] * 3
    assert not follower._followed  # the last follower gone, the turn is forgotten here


async def test_a_turn_takes_no_event_after_finish_and_finishing_twice_is_harmless(
    open_channel: OpenChannel,
):
    channel = open_channel()
    key = new_key()
    await channel.publish(key, "a")
    await channel.finish(key)
    await channel.finish(key)
    with pytest.raises(TurnFinished):
        await channel.publish(key, "late")
    assert await collect(channel, key) == [(1, "a")]


async def test_one_channel_publishing_and_reading_at_once_gets_both_right(
    open_channel: OpenChannel,
):
    """A worker's channel publishes the turns it runs while it reads other turns for their
    followers there, all at once (on PostgreSQL: one connection for both)."""
    channel, elsewhere = open_channel(), open_channel()
    others = [new_key() for _ in range(40)]
    for key in others:
        await elsewhere.publish(key, payload(1))
        await elsewhere.publish(key, payload(2))
        await elsewhere.finish(key)
    own = [new_key() for _ in range(4)]

    async def run(key: str) -> list[int]:
        return [await channel.publish(key, f"{n}") for n in range(50)]

    async def read(keys: list[str]) -> list[list[tuple[int, str]]]:
        return [await collect(channel, key) for key in keys]

    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(
            *(run(key) for key in own), *(read(others[n::4]) for n in range(4))
        )
    assert results[:4] == [list(range(1, 51))] * 4
    assert [events for read in results[4:] for events in read] == [
        [(1, payload(1)), (2, payload(2))]
    ] * len(others)


# Unknown, expired, trimmed ----------------------------------------------------------------


async def test_following_an_unknown_turn_raises_turn_not_found(open_channel: OpenChannel):
    with pytest.raises(TurnNotFound):
        await collect(open_channel(), new_key())


async def test_a_finished_turn_expires_after_the_retention(open_channel: OpenChannel):
    """(Before, a finished turn is followed from its start: the tests above.)"""
    publisher, follower = open_channel(retention=0.2), open_channel(retention=0.2)
    key = new_key()
    await publisher.publish(key, "a")
    await publisher.finish(key)
    await asyncio.sleep(0.3)
    with pytest.raises(TurnNotFound):
        await collect(follower, key)


async def test_a_turn_that_expires_unfinished_ends_its_waiting_followers(
    open_channel: OpenChannel,
):
    """The publisher died without finish(): the sweep ends the followers once it expired."""
    publisher = open_channel(retention=0.5)
    follower = open_channel(retention=0.5, sweep_every=0.05)
    key = new_key()
    await publisher.publish(key, "a")
    got: list = []

    async def follow() -> None:
        async with aclosing(follower.follow(key)) as events:
            async for event in events:
                got.append(event)  # noqa: PERF401 (kept one by one: the follow ends by raising)

    with pytest.raises(TurnNotFound):
        async with asyncio.timeout(WAIT):
            await follow()
    assert got == [(1, "a")]


async def test_the_oldest_events_go_beyond_the_bound_and_cannot_be_replayed(
    open_channel: OpenChannel,
):
    publisher, follower = open_channel(max_events=5), open_channel(max_events=5)
    key = new_key()
    for number in range(1, 11):
        await publisher.publish(key, payload(number))
    await publisher.finish(key)  # the end counts: events 7 to 10 and the end are kept

    with pytest.raises(ReplayUnavailable):
        await collect(follower, key, after=2)
    with pytest.raises(ReplayUnavailable):
        await collect(follower, key)
    assert await collect(follower, key, after=6) == [(n, payload(n)) for n in (7, 8, 9, 10)]


async def test_an_id_the_turn_never_had_is_replay_unavailable(open_channel: OpenChannel):
    channel = open_channel()
    key = new_key()
    await channel.publish(key, "a")
    with pytest.raises(ReplayUnavailable):
        await collect(channel, key, after=7)


# Many followers, other processes and threads ------------------------------------------------


async def _many_followers(
    channel: TurnChannel, publisher: TurnChannel, followers: int, events: int
):
    key = new_key()
    await publisher.publish(key, payload(1))
    tasks = [asyncio.create_task(collect(channel, key)) for _ in range(followers)]
    await until_followed(channel, key, followers)
    for number in range(2, events + 1):
        await publisher.publish(key, payload(number))
    await publisher.finish(key)
    async with asyncio.timeout(60):
        results = await asyncio.gather(*tasks)
    expected = [(n, payload(n)) for n in range(1, events + 1)]
    assert all(result == expected for result in results)


async def test_a_thousand_followers_of_one_turn_get_every_event(open_channel: OpenChannel):
    await _many_followers(open_channel(), open_channel(), followers=1000, events=20)


@pytest.mark.load
async def test_a_thousand_followers_get_every_event_of_a_long_turn(open_channel: OpenChannel):
    await _many_followers(open_channel(), open_channel(), followers=1000, events=500)


async def test_events_published_in_another_os_process_reach_followers_here(
    open_server_channel: OpenChannel,
):
    follower = open_server_channel()
    backend = "redis" if follower.__class__.__name__ == "RedisChannel" else "postgres"
    where = REDIS_URL if backend == "redis" else json.dumps(_postgres_params())
    key = new_key()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.turn_channel_publisher",
        backend, where, key, "30", "0.005",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            assert (await process.stdout.readline()).strip() == b"ready"
            tasks = [asyncio.create_task(collect(follower, key)) for _ in range(2)]
            await until_followed(follower, key, 2)
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            results = await asyncio.gather(*tasks)
            ids = json.loads(await process.stdout.readline())
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
    expected = [(n, payload(n)) for n in range(1, 31)]
    assert ids == list(range(1, 31))
    assert results == [expected, expected]


async def test_in_memory_a_turn_published_on_another_threads_loop_reaches_followers_here():
    """The embedded defaults serve the app on one process whose loops share the events (the
    test server runs on a thread of its own)."""
    follower = MemoryChannel(retention=60, max_events=100)
    key = new_key()
    started = threading.Event()
    go = threading.Event()

    def publish_on_a_thread() -> None:
        async def publish() -> None:
            publisher = MemoryChannel(retention=60, max_events=100)
            await publisher.publish(key, payload(1))
            started.set()
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            for number in range(2, 11):
                await publisher.publish(key, payload(number))
            await publisher.finish(key)

        asyncio.run(publish())

    thread = threading.Thread(target=publish_on_a_thread)
    thread.start()
    try:
        await asyncio.get_running_loop().run_in_executor(None, started.wait, WAIT)
        task = asyncio.create_task(collect(follower, key))
        await until_followed(follower, key)
        go.set()
        async with asyncio.timeout(WAIT):
            assert await task == [(n, payload(n)) for n in range(1, 11)]
    finally:
        go.set()
        thread.join(WAIT)


async def test_followers_coming_and_going_leave_every_wake_up_of_a_followed_turn(
    open_server_channel: OpenChannel,
):
    """Each follower that arrives or leaves has the process change the turns it is woken for
    (on PostgreSQL: the listener is interrupted to LISTEN); an event that arrives with that
    change still wakes the turn's followers at once, not at the next sweep."""
    publisher, follower = open_server_channel(), open_server_channel()
    key = new_key()
    await publisher.publish(key, payload(1))
    followed = asyncio.create_task(collect(follower, key))
    await until_followed(follower, key)
    others = [new_key() for _ in range(300)]
    for other in others:
        await publisher.publish(other, "x")
        await publisher.finish(other)
    churning = True

    async def come_and_go() -> None:
        while churning:
            for other in others:
                await collect(follower, other)

    churn = asyncio.create_task(come_and_go())
    try:
        for number in range(2, 151):
            event_id = await publisher.publish(key, payload(number))
            known = follower._followed[key]  # what the follower's process knows of the turn
            async with asyncio.timeout(WAIT / 2):  # the sweep would come after 30 s
                while known.last < event_id:
                    await known.changed.wait()
    finally:
        churning = False
        await churn
    await publisher.finish(key)
    async with asyncio.timeout(WAIT):
        assert await followed == [(n, payload(n)) for n in range(1, 151)]


# Reconnection -----------------------------------------------------------------------------


async def _cut_listener(channel: TurnChannel) -> None:
    """Close the channel's wake-up connection from the server's side."""
    if channel.__class__.__name__ == "RedisChannel":
        import redis.asyncio as redis

        async with redis.from_url(REDIS_URL, decode_responses=True) as admin:
            clients = await admin.client_list()
            (client,) = [c for c in clients if c["name"] == channel.listener_name]
            await admin.client_kill_filter(_id=client["id"])
    else:
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            **_postgres_params(), autocommit=True
        ) as admin:
            cursor = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                [channel.listener_name],
            )
            assert [row[0] for row in await cursor.fetchall()] == [True]


async def test_followers_get_the_events_published_while_wake_ups_were_cut_off(
    open_server_channel: OpenChannel,
):
    publisher, follower = open_server_channel(), open_server_channel()
    key = new_key()
    await publisher.publish(key, payload(1))
    task = asyncio.create_task(collect(follower, key))
    await until_followed(follower, key)
    await _cut_listener(follower)
    for number in range(2, 6):
        await publisher.publish(key, payload(number))
    await publisher.finish(key)
    async with asyncio.timeout(WAIT):
        assert await task == [(n, payload(n)) for n in range(1, 6)]


# Configuration ----------------------------------------------------------------------------


LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/7,redis://127.0.0.1:6379/8",
    }
}


async def test_the_backend_is_redis_when_the_default_cache_is_redis():
    with override_settings(CACHES=REDIS):
        channel = configured_channel()
    try:
        assert channel.__class__.__name__ == "RedisChannel"
        assert channel._pool.connection_kwargs["db"] == 7  # the first server takes the writes
        assert channel._stream("k") == "assistant:turn:k"
    finally:
        await channel.aclose()


async def test_on_redis_the_caches_key_prefix_keeps_sites_apart():
    with override_settings(CACHES={"default": {**REDIS["default"], "KEY_PREFIX": "shop"}}):
        channel = configured_channel()
    try:
        assert channel._stream("k") == "shop:assistant:turn:k"
        assert channel._topic("k") == "shop:assistant:turn:7:k"
    finally:
        await channel.aclose()


async def test_without_redis_the_backend_follows_the_database():
    with override_settings(CACHES=LOCMEM):
        channel = configured_channel()
    try:
        expected = "PostgresChannel" if ON_POSTGRES else "MemoryChannel"
        assert channel.__class__.__name__ == expected
    finally:
        await channel.aclose()


async def test_the_channel_takes_its_retention_and_bound_from_the_settings():
    with override_settings(CACHES=LOCMEM, TURN_CHANNEL_RETENTION=5, TURN_CHANNEL_MAX_EVENTS=9):
        channel = turn_channel.get_channel()
        assert (channel.retention, channel.max_events) == (5.0, 9)
        assert turn_channel.get_channel() is channel  # one per event loop
    rebuilt = turn_channel.get_channel()
    assert rebuilt is not channel  # a setting changed: built again
    await channel.aclose()
    await rebuilt.aclose()


@pytest.mark.django_db
async def test_the_module_functions_use_the_running_loops_channel():
    key = new_key()
    try:
        assert await turn_channel.publish(key, "a") == 1
        await turn_channel.finish(key)
        async with aclosing(turn_channel.follow(key)) as events:
            assert [event async for event in events] == [(1, "a")]
    finally:
        await turn_channel.get_channel().aclose()


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("", None), (" 12 ", 12), ("0", 0)])
def test_last_event_id_header_gives_the_id_to_resume_after(header, expected):
    assert event_id_from_header(header) == expected


@pytest.mark.parametrize("header", ["abc", "-3", "1.5", "²"])
def test_a_last_event_id_the_channel_never_gave_is_replay_unavailable(header):
    with pytest.raises(ReplayUnavailable):
        event_id_from_header(header)


def test_a_turn_key_is_a_short_string():
    channel = MemoryChannel(retention=1, max_events=1)
    for key in ["", "k" * 101, 7]:
        with pytest.raises(ValueError, match="A turn key is a string"):
            asyncio.run(channel.publish(key, "a"))
