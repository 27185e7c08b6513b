"""Lanes: a fixed set of single threads for synchronous code (the ORM above all) called from
the event loop.

asgiref runs thread-sensitive code on the thread of the surrounding ThreadSensitiveContext,
and outside any on one thread shared by the whole process. Work that is not a request (a
chat turn running on its own, assistant.turn_tasks) would then queue behind every other
turn's queries on that one thread. Lanes share the work out instead: each user of
`context()` runs on the lane with the fewest users, a lane runs one call at a time (as
thread-sensitive code expects) and keeps its database connection between users.

`process_lanes()` are the process's SYNC_THREADS lanes. The answers being written use them;
a project's ASGI handler may run its requests on them too (the reference project's does:
config/handler.py), so that one process holds SYNC_THREADS connections for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache

from asgiref.sync import ThreadSensitiveContext
from django.core.exceptions import ImproperlyConfigured

from ai_settings.conf import app_settings


@dataclass(eq=False)
class Lane:
    executor: ThreadPoolExecutor
    users: int = field(default=0)


class Lanes:
    def __init__(self, count: int, name: str) -> None:
        if count < 1:
            raise ValueError("Lanes need at least one thread.")
        self.lanes = [
            Lane(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-{number}"))
            for number in range(1, count + 1)
        ]

    @asynccontextmanager
    async def context(self) -> AsyncIterator[None]:
        """Thread-sensitive code called inside runs on the least busy lane. Tasks started
        inside must end inside."""
        lane = min(self.lanes, key=lambda lane: lane.users)
        lane.users += 1
        try:
            async with ThreadSensitiveContext(executor=lane.executor):
                yield
        finally:
            lane.users -= 1


@cache
def process_lanes() -> Lanes:
    count = int(app_settings.SYNC_THREADS)
    if count < 1:
        raise ImproperlyConfigured("SYNC_THREADS must be at least 1.")
    return Lanes(count, "django-sync")
