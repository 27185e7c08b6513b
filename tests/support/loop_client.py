"""Django's async test client, either with the stock middleware of MIDDLEWARE (Django's own
ASGI path) or with the event-loop versions the project's ASGI handler loads in their place."""

from __future__ import annotations

import pytest
from django.test import AsyncClient
from django.test.client import AsyncClientHandler

from config.handler import LoopMiddleware


class LoopAsyncClientHandler(LoopMiddleware, AsyncClientHandler):
    """Django's test client handler, with the project's event-loop middleware."""


def async_client(middleware: str, **kwargs) -> AsyncClient:
    """An AsyncClient whose middleware is "loop" (the project's) or "stock" (Django's)."""
    client = AsyncClient(**kwargs)
    if middleware == "loop":
        client.handler = LoopAsyncClientHandler(client.handler.enforce_csrf_checks)
    return client


both_middleware = pytest.mark.parametrize("middleware", ["loop", "stock"])
