"""The ASGI app served at /mcp: gatekeeping (AI enabled, MCP on, host, bearer token) in front
of the SDK's Streamable HTTP session manager.

The manager runs **stateless** with JSON responses: no MCP session lives in process memory,
so any worker on any host can answer any request (the scale-out rule). It still needs its
run() context for a task group; that is entered lazily, once per event loop, in a background
task, so the app works whether or not the server sends ASGI lifespan events.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from ai_settings.current import aget_current
from prompts.mcp_server import USER_STATE_KEY, build_server
from prompts.tokens import aauthenticate

WWW_AUTHENTICATE = 'Bearer realm="mcp"'


@dataclass
class _Running:
    manager: StreamableHTTPSessionManager
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


class McpApp:
    def __init__(self) -> None:
        self._running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Running] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await sync_to_async(close_old_connections)()
        try:
            await self._serve(scope, receive, send)
        finally:
            await sync_to_async(close_old_connections)()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _server_on():
            await _json(send, 404, {"error": "Not found."})
            return
        if not _host_allowed(scope):
            await _json(send, 400, {"error": "Bad Request: the Host header is not allowed."})
            return
        token = _bearer_token(scope)
        user = await aauthenticate(token) if token else None
        if user is None:
            reason = (
                "Authentication required: send “Authorization: Bearer <token>” with a token "
                "from the API tokens page."
                if not token
                else "The bearer token is not valid: it is unknown or revoked."
            )
            await _unauthorized(send, reason)
            return
        if scope["method"] == "GET":
            # A stateless server has nothing to push, so it offers no standalone SSE stream
            # (the spec's answer for that is 405), rather than hold an idle connection open.
            await _json(send, 405, {"error": "Use POST."}, [(b"allow", b"POST")])
            return
        scope.setdefault("state", {})[USER_STATE_KEY] = user
        manager = await self._manager()
        await manager.handle_request(scope, receive, send)

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        running = self._running.get(loop)
        if running is None:
            running = _Running(
                StreamableHTTPSessionManager(app=build_server(), stateless=True, json_response=True)
            )
            running.task = loop.create_task(_keep_running(running), name="mcp-session-manager")
            self._running[loop] = running
        if running.started.is_set():
            return running.manager
        started = asyncio.ensure_future(running.started.wait())
        await asyncio.wait({started, running.task}, return_when=asyncio.FIRST_COMPLETED)
        if not running.started.is_set():
            started.cancel()
            self._running.pop(loop, None)
            running.task.result()  # re-raises why the manager could not start
        return running.manager

    async def shutdown(self) -> None:
        """Stop this event loop's session manager (ASGI lifespan shutdown)."""
        running = self._running.pop(asyncio.get_running_loop(), None)
        if running is not None and running.task is not None:
            running.stop.set()
            await running.task


async def _keep_running(running: _Running) -> None:
    async with running.manager.run():
        running.started.set()
        await running.stop.wait()


async def _server_on() -> bool:
    if not settings.AI_ENABLED:
        return False
    return (await aget_current()).mcp_enabled


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _bearer_token(scope: Scope) -> str:
    scheme, _, token = _header(scope, b"authorization").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _host_allowed(scope: Scope) -> bool:
    """Django's ALLOWED_HOSTS rule, which Django itself does not apply outside its own views."""
    domain, _ = split_domain_port(_header(scope, b"host"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


async def _json(send: Send, status: int, body: dict[str, Any], headers=()) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _unauthorized(send: Send, reason: str) -> None:
    """401 with WWW-Authenticate; the body is a JSON-RPC error, which MCP clients show."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": reason}}
    await _json(send, 401, body, [(b"www-authenticate", WWW_AUTHENTICATE.encode())])
