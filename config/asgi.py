"""ASGI entry point: Django on the project's laned handler (config/handler.py), with the MCP
server mounted in front of it at /mcp (assistant.mcp.asgi, as any project mounts it)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.handler import get_asgi_application

django_application = get_asgi_application()

from assistant.mcp.asgi import with_mcp  # noqa: E402  (needs Django set up first)


def _warm_up() -> None:
    """Import what the first request would otherwise import on the event loop — the URL conf,
    its views and the provider SDKs (seconds of CPU) — so no stream on this worker stalls."""
    from django.urls import get_resolver

    from assistant.providers import load_adapters

    get_resolver().url_patterns  # noqa: B018  (imports every view module)
    load_adapters()


_warm_up()

application = with_mcp(django_application)
