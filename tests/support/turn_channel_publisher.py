"""A second OS process for the turn channel's cross-process tests: it publishes the first
event of a turn on the Redis or PostgreSQL backend, prints "ready", waits for a line on
stdin, publishes the rest (one every DELAY seconds), finishes the turn and prints the ids.

    python -m tests.support.turn_channel_publisher redis redis://127.0.0.1:6379/7 KEY COUNT DELAY
    python -m tests.support.turn_channel_publisher postgres '{"dbname": "…", …}' KEY COUNT DELAY
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import django


def payload(number: int) -> str:
    """What the publisher sends as event `number` (also what the test expects)."""
    return f"<p>event {number} ✓</p>\n"


async def publish(backend: str, where: str, turn_key: str, count: int, delay: float) -> None:
    from assistant.turn_channel.channel import TurnChannel

    channel: TurnChannel
    if backend == "redis":
        from assistant.turn_channel.redis_streams import RedisChannel

        channel = RedisChannel(where, retention=60, max_events=10_000)
    else:
        from assistant.turn_channel.postgres import PostgresChannel

        channel = PostgresChannel(json.loads(where), retention=60, max_events=10_000)
    ids = [await channel.publish(turn_key, payload(1))]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for number in range(2, count + 1):
        ids.append(await channel.publish(turn_key, payload(number)))
        if delay:
            await asyncio.sleep(delay)
    await channel.finish(turn_key)
    await channel.aclose()
    print(json.dumps(ids), flush=True)


if __name__ == "__main__":
    backend, where, turn_key, count, delay = sys.argv[1:6]
    if backend == "postgres":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()  # the PostgreSQL backend names its table after the model
    asyncio.run(publish(backend, where, turn_key, int(count), float(delay)))
