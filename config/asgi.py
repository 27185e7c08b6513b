"""ASGI entry point: Django, with the MCP server mounted beside it at /mcp."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

from config.handler import get_asgi_application  # noqa: E402

django_application = get_asgi_application(settings.SYNC_THREADS)

from prompts.mcp_http import McpApp  # noqa: E402  (needs Django set up first)


def _warm_up() -> None:
    """Import what the first request would otherwise import on the event loop — the URL conf,
    its views and the provider SDKs (seconds of CPU) — so no stream on this worker stalls."""
    from django.urls import get_resolver

    from assistant.providers import load_adapters

    get_resolver().url_patterns  # noqa: B018  (imports every view module)
    load_adapters()


_warm_up()

class Dispatcher:
    """/mcp and every path under it to the MCP app (which answers JSON, never Django's HTML
    pages), everything else to Django; answers ASGI lifespan itself (Django does not speak it)
    and stops the MCP session manager on shutdown."""

    def __init__(self, django_app, mcp_app: McpApp) -> None:
        self.django_app = django_app
        self.mcp_app = mcp_app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and _is_mcp(scope["path"]):
            await self.mcp_app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # MCP starts on first use
            elif message["type"] == "lifespan.shutdown":
                await self.mcp_app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _is_mcp(path: str) -> bool:
    return path == "/mcp" or path.startswith("/mcp/")


mcp_application = McpApp()
application = Dispatcher(django_application, mcp_application)
