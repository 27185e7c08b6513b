"""The MCP server mounted in front of a project's Django ASGI application:

    from django.core.asgi import get_asgi_application
    from assistant.mcp.asgi import with_mcp

    application = with_mcp(get_asgi_application())

/mcp and every path under it go to the MCP app (which answers JSON, never Django's HTML
pages), everything else to Django. The dispatcher answers ASGI lifespan itself (Django does
not speak it) and stops the MCP session manager on shutdown.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

from assistant.mcp.http import McpApp

MCP_PATH = "/mcp"


class McpDispatcher:
    def __init__(self, django_app: Any, mcp_app: McpApp, path: str = MCP_PATH) -> None:
        self.django_app = django_app
        self.mcp_app = mcp_app
        self.path = path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and self._is_mcp(scope["path"]):
            await self.mcp_app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)

    def _is_mcp(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path + "/")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # MCP starts on first use
            elif message["type"] == "lifespan.shutdown":
                await self.mcp_app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def with_mcp(django_app: Any, path: str = MCP_PATH) -> McpDispatcher:
    """`django_app` with the MCP server at `path` (call after Django is set up)."""
    return McpDispatcher(django_app, McpApp(), path)
