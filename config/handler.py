"""Django's ASGI handler, with each worker's synchronous work on a few long-lived threads.

Django's own handler gives every request a thread of its own for its synchronous code (ORM
queries, sync middleware and views), and that thread opens a database connection and closes
it when the request ends: a new thread and a new connection for every chat message, and one
thread per open stream. Here a worker has SYNC_THREADS "lanes", each a single thread that
keeps its database connection (CONN_MAX_AGE); every request runs its synchronous code on the
lane with the fewest requests. One lane still runs one call at a time, as thread-sensitive
code expects, and a worker holds at most SYNC_THREADS request connections however many
answers are streaming. The price: a slow synchronous view (a usage report over a large
ledger) holds its lane, and requests given that lane meanwhile wait for it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


@dataclass(eq=False)
class Lane:
    executor: ThreadPoolExecutor
    requests: int = field(default=0)


class LanedASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        if threads < 1:
            raise ValueError("SYNC_THREADS must be at least 1.")
        self.lanes = [
            Lane(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{number}"))
            for number in range(1, threads + 1)
        ]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        lane = min(self.lanes, key=lambda lane: lane.requests)
        lane.requests += 1
        try:
            async with ThreadSensitiveContext(executor=lane.executor):
                await self.handle(scope, receive, send)
        finally:
            lane.requests -= 1


def get_asgi_application(threads: int) -> LanedASGIHandler:
    """django.core.asgi.get_asgi_application, with lanes."""
    import django

    django.setup(set_prefix=False)
    return LanedASGIHandler(threads)
