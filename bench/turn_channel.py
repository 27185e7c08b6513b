"""The turn channel (assistant.turn_channel): publish → follower latency and memory per idle
follower, for each backend this environment has.

    python -m bench.turn_channel                       # memory only
    DATABASE_URL=postgres://… CACHE_URL=redis://… python -m bench.turn_channel

Backends: memory always; Redis when CACHE_URL is redis://; PostgreSQL when DATABASE_URL is
postgres:// (its tables are migrated first). For each:

- latency, one follower: EVENTS events published one every PACE seconds (each carries its
  publish time, time.monotonic_ns, which every process of the machine shares), from this
  process and from a second OS process; p50/p99 of (received - published);
- fan-out: the same with FAN_OUT followers of the turn in this process (every pair counts);
- memory per idle follower: IDLE followers waiting on turns with no new event, traced with
  tracemalloc (Python allocations) and as the process's resident size.

Not part of `make bench` (bench/run.py); the figures go into the turn channel's note.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.turn_channel.channel import TurnChannel

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 400
PACE = 0.005
FAN_OUT = 1000
IDLE = 5000
PAD = "x" * 120  # about the size of one chunk event of the chat stream
RETENTION = 600.0
MAX_EVENTS = 10_000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def open_channel(backend: str) -> TurnChannel:
    if backend == "redis":
        from assistant.turn_channel.redis_streams import RedisChannel

        return RedisChannel(os.environ["CACHE_URL"], retention=RETENTION, max_events=MAX_EVENTS)
    if backend == "postgres":
        from django.db import connections

        from assistant.turn_channel.postgres import PostgresChannel

        params = PostgresChannel.params_of(connections["default"])
        return PostgresChannel(params, retention=RETENTION, max_events=MAX_EVENTS)
    from assistant.turn_channel.memory import MemoryChannel

    return MemoryChannel(retention=RETENTION, max_events=MAX_EVENTS)


async def publish_paced(channel: TurnChannel, key: str, events: int) -> None:
    for _ in range(events):
        await channel.publish(key, f"{time.monotonic_ns()} {PAD}")
        await asyncio.sleep(PACE)
    await channel.finish(key)


async def follow_latencies(channel: TurnChannel, key: str) -> list[float]:
    """Milliseconds from each event's publication to its arrival here."""
    latencies = []
    async with aclosing(channel.follow(key)) as events:
        async for _, payload in events:
            latencies.append((time.monotonic_ns() - int(payload.split(" ", 1)[0])) / 1e6)
    return latencies


async def until_followed(channel: TurnChannel, key: str, followers: int) -> None:
    while True:
        followed = channel._followed.get(key)
        if (
            followed
            and followed.followers >= followers
            and followed.ready is not None
            and followed.ready.done()
        ):
            return
        await asyncio.sleep(0.01)


async def in_process(backend: str, followers: int) -> list[float]:
    publisher, follower = open_channel(backend), open_channel(backend)
    key = f"bench-{uuid.uuid4().hex}"
    await publisher.publish(key, f"{time.monotonic_ns()} {PAD}")
    tasks = [asyncio.create_task(follow_latencies(follower, key)) for _ in range(followers)]
    await until_followed(follower, key, followers)
    await publish_paced(publisher, key, EVENTS)
    results = await asyncio.gather(*tasks)
    await publisher.aclose()
    await follower.aclose()
    return [value for result in results for value in result[1:]]  # the first one was stored


async def cross_process(backend: str) -> list[float]:
    follower = open_channel(backend)
    key = f"bench-{uuid.uuid4().hex}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.turn_channel", "--publisher", backend, key,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None  # both are pipes (PIPE above)
    assert process.stdin is not None
    assert (await process.stdout.readline()).strip() == b"ready"
    task = asyncio.create_task(follow_latencies(follower, key))
    await until_followed(follower, key, 1)
    process.stdin.write(b"go\n")
    await process.stdin.drain()
    latencies = await task
    await process.wait()
    await follower.aclose()
    return latencies[1:]


async def publisher_process(backend: str, key: str) -> None:
    channel = open_channel(backend)
    await channel.publish(key, f"{time.monotonic_ns()} {PAD}")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await publish_paced(channel, key, EVENTS)
    await channel.aclose()


def rss_kib() -> int:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def idle_memory(backend: str) -> tuple[float, float]:
    """Bytes per idle follower: Python allocations (tracemalloc), resident size."""
    publisher, follower = open_channel(backend), open_channel(backend)
    keys = [f"bench-{uuid.uuid4().hex}" for _ in range(10)]
    for key in keys:
        await publisher.publish(key, f"{time.monotonic_ns()} {PAD}")
    # One follower of each turn first: the turns' own state is not the followers'.
    warm = [asyncio.create_task(follow_latencies(follower, key)) for key in keys]
    for key in keys:
        await until_followed(follower, key, 1)
    gc.collect()
    tracemalloc.start()
    before, rss_before = tracemalloc.get_traced_memory()[0], rss_kib()
    tasks = [
        asyncio.create_task(follow_latencies(follower, keys[n % len(keys)])) for n in range(IDLE)
    ]
    for key in keys:
        await until_followed(follower, key, 1 + IDLE // len(keys))
    await asyncio.sleep(0.1)
    gc.collect()
    after, rss_after = tracemalloc.get_traced_memory()[0], rss_kib()
    tracemalloc.stop()
    for key in keys:
        await publisher.finish(key)
    await asyncio.gather(*tasks, *warm)
    await publisher.aclose()
    await follower.aclose()
    return (after - before) / IDLE, (rss_after - rss_before) * 1024 / IDLE


def backends() -> list[str]:
    found = ["memory"]
    if os.environ.get("CACHE_URL", "").startswith("redis"):
        found.append("redis")
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        found.append("postgres")
    return found


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<34} p50 {percentile(values, 0.5):7.2f} ms   p99 {percentile(values, 0.99):7.2f}"
        f" ms   ({len(values)} deliveries)"
    )


async def measure(backend: str) -> dict[str, object]:
    one = await in_process(backend, 1)
    print(line("in process, 1 follower", one), flush=True)
    many = await in_process(backend, FAN_OUT)
    print(line(f"in process, {FAN_OUT} followers", many), flush=True)
    result: dict[str, object] = {"in_process": one, "fan_out": many}
    if backend != "memory":
        other = await cross_process(backend)
        print(line("from a second process, 1 follower", other), flush=True)
        result["cross_process"] = other
    traced, resident = await idle_memory(backend)
    print(f"  idle follower: {traced:.0f} B traced, {resident:.0f} B resident", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publisher", nargs=2, metavar=("BACKEND", "KEY"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if arguments.publisher:
        asyncio.run(publisher_process(*arguments.publisher))
        return
    if "postgres" in backends():
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "assistant", "--noinput", "-v0"],
            cwd=ROOT, check=True,
        )  # fmt: skip
    print(f"Turn channel: {EVENTS} events one every {PACE * 1000:.0f} ms; load {os.getloadavg()}")
    for backend in backends():
        print(f"{backend}:", flush=True)
        asyncio.run(measure(backend))
    print(json.dumps({"load_after": os.getloadavg()}))


if __name__ == "__main__":
    main()
