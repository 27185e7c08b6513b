"""Django's ASGI handler, with each worker's synchronous work on a few long-lived threads.

Django's own handler gives every request a thread of its own for its synchronous code (ORM
queries, sync middleware and views), and that thread opens a database connection and closes
it when the request ends: a new thread and a new connection for every chat message, and one
thread per open stream. Here a worker has SYNC_THREADS "lanes" (assistant.lanes: the same
that the answers being written use), each a single thread that keeps its database
connection (CONN_MAX_AGE); every request runs its synchronous code on the lane with the
fewest users. One lane still runs one call at a time, as thread-sensitive code expects, and
a worker holds at most SYNC_THREADS connections however many answers are streaming. The
price: a slow synchronous view (a usage report over a large ledger) holds its lane, and
requests (and answers) given that lane meanwhile wait for it.

The handler also runs the event-loop versions of the stock middleware (LOOP_MIDDLEWARE).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from assistant.lanes import Lanes, process_lanes

# Each stock middleware that has an event-loop version (config/middleware.py): the handler
# loads that version in its place. MIDDLEWARE keeps the stock paths, so Django's own checks
# (check --deploy) see them, and Django's stock handlers (WSGI, the test client, its own
# get_asgi_application) run the stock classes.
LOOP_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware": "config.middleware.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware": "config.middleware.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": "config.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": "config.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "config.middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": (
        "config.middleware.AuthenticationMiddleware"
    ),
    "django.contrib.messages.middleware.MessageMiddleware": "config.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": (
        "config.middleware.XFrameOptionsMiddleware"
    ),
    "csp.middleware.CSPMiddleware": "config.middleware.CSPMiddleware",
}


class LoopMiddleware:
    """Mixed in before a Django handler class: its middleware chain is built from
    settings.MIDDLEWARE with each path of LOOP_MIDDLEWARE replaced by its event-loop version."""

    def load_middleware(self, is_async: bool = False) -> None:
        with _loop_versions_in_settings():
            super().load_middleware(is_async)  # type: ignore[misc]


@contextmanager
def _loop_versions_in_settings() -> Iterator[None]:
    """settings.MIDDLEWARE with the loop versions while Django builds the chain (once, when the
    handler is created, before it serves anything); the stock list again afterwards."""
    stock = settings.MIDDLEWARE
    settings.MIDDLEWARE = [LOOP_MIDDLEWARE.get(path, path) for path in stock]
    try:
        yield
    finally:
        settings.MIDDLEWARE = stock


class LanedASGIHandler(LoopMiddleware, ASGIHandler):
    def __init__(self, lanes: Lanes) -> None:
        super().__init__()
        self.lanes = lanes

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with self.lanes.context():
            await self.handle(scope, receive, send)


def get_asgi_application() -> LanedASGIHandler:
    """django.core.asgi.get_asgi_application, with lanes and the event-loop middleware.

    Django is set up only if nothing did it before (a test run has): setting it up again would
    configure logging again, onto whatever sys.stderr is at that moment (pytest's capture of
    one test, closed when that test ends)."""
    if not apps.ready:
        django.setup(set_prefix=False)
    return LanedASGIHandler(process_lanes())
