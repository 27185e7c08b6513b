"""The ASGI app served at /mcp: gatekeeping (AI enabled, MCP on, host, Origin, bearer token) in
front of the SDK's Streamable HTTP session manager.

Every error it answers is a JSON-RPC error body, whatever refused the request: these checks,
the SDK (a few of whose checks answer in plain text or with an empty body: _JsonErrors
rewrites those) or an exception (a JSON 500, then re-raised for the server to log). Django's
HTML error pages never answer here, in DEBUG either.

The manager runs **stateless** with JSON responses: no MCP session lives in process memory,
so any worker on any host can answer any request (the scale-out rule). It still needs its
run() context for a task group; that is entered lazily, once per event loop, in a background
task, so the app works whether or not the server sends ASGI lifespan events.
"""

from __future__ import annotations

import asyncio
import io
import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.client import responses
from urllib.parse import urlsplit

import mcp_types as types
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.utils.http import is_same_domain
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Message, Receive, Scope, Send

from ai_settings.access import ai_enabled
from ai_settings.current import aget_current
from assistant.mcp.server import USER_STATE_KEY, build_server
from prompts.tokens import aauthenticate

WWW_AUTHENTICATE = 'Bearer realm="mcp"'
ENDPOINT_PATHS = frozenset({"/mcp", "/mcp/"})
# JSON-RPC's range for server-defined errors; the official TypeScript SDK answers a refused
# Origin with it.
ORIGIN_REFUSED = -32000
UNAUTHORIZED = -32001


@dataclass
class _Running:
    manager: StreamableHTTPSessionManager
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class McpApp:
    def __init__(self) -> None:
        self._running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Running] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = _JsonErrors(send)
        await sync_to_async(close_old_connections)()
        try:
            await self._serve(scope, receive, answer)
        except Exception:
            if not answer.started:
                await _error(answer, 500, types.INTERNAL_ERROR, "Internal server error.")
            raise  # for the server to log, with its traceback
        finally:
            await sync_to_async(close_old_connections)()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in ENDPOINT_PATHS or not await _server_on():
            await _error(send, 404, types.INVALID_REQUEST, "Not found.")
            return
        request = ASGIRequest(scope, io.BytesIO())  # the headers, read the way Django reads them
        host = _allowed_host(request)
        if host is None:
            await _error(send, 400, types.INVALID_REQUEST, "The Host header is not allowed.")
            return
        if not _origin_allowed(request, host):
            message = "The Origin header is not this site's: cross-site requests are refused."
            await _error(send, 403, ORIGIN_REFUSED, message)
            return
        token = _bearer_token(request)
        user = await aauthenticate(token) if token else None
        if user is None:
            reason = (
                "Authentication required: send “Authorization: Bearer <token>” with a token "
                "from the API tokens page."
                if not token
                else "The bearer token is not valid: it is unknown or revoked."
            )
            auth = [(b"www-authenticate", WWW_AUTHENTICATE.encode())]
            await _error(send, 401, UNAUTHORIZED, reason, auth)
            return
        if scope["method"] != "POST":
            # A stateless server has nothing to push and no session to end, so it offers no
            # standalone SSE stream (GET) nor DELETE: the spec's answer for both is 405.
            await _error(send, 405, types.INVALID_REQUEST, "Use POST.", [(b"allow", b"POST")])
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
        task = running.task
        assert task is not None  # created with the _Running, above
        started = asyncio.ensure_future(running.started.wait())
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        if not running.started.is_set():
            started.cancel()
            self._running.pop(loop, None)
            task.result()  # re-raises why the manager could not start
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
    if not ai_enabled():
        return False
    return (await aget_current()).mcp_enabled


def _bearer_token(request: ASGIRequest) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _allowed_host(request: ASGIRequest) -> str | None:
    """The Host header if ALLOWED_HOSTS allows it (Django applies it only in its own views)."""
    try:
        return request.get_host()
    except DisallowedHost:
        return None


def _origin_allowed(request: ASGIRequest, host: str) -> bool:
    """No Origin (a client that is not a browser), this site's own, or one of
    CSRF_TRUSTED_ORIGINS ("https://*.example.com" allows its subdomains): Django's CSRF rule
    for origins, which MCP asks of servers against DNS rebinding."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    own = f"{'https' if request.is_secure() else 'http'}://{host}"
    if origin == own or origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parts.netloc, trusted.netloc.removeprefix("*"))
        for trusted in map(urlsplit, settings.CSRF_TRUSTED_ORIGINS)
        if trusted.netloc.startswith("*") and trusted.scheme == parts.scheme
    )


async def _error(
    send: Send, status: int, code: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A JSON-RPC error answering no request in particular (id null)."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
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


class _JsonErrors:
    """The `send` of one request: an error response that is not JSON goes out as a JSON-RPC
    error with the same status, its text (or the status's phrase) as the message."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False
        self._held: Message | None = None  # the start of a response being rewritten
        self._body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if message["status"] >= 400 and not _is_json(message.get("headers", [])):
                self._held = message
                return
        elif message["type"] == "http.response.body" and self._held is not None:
            self._body += message.get("body", b"")
            if message.get("more_body", False):
                return
            status = self._held["status"]
            kept = [
                (name, value)
                for name, value in self._held.get("headers", [])
                if name.lower() not in {b"content-type", b"content-length"}
            ]
            text = self._body.decode("utf-8", "replace").strip() or responses.get(status, "Error")
            code = types.INTERNAL_ERROR if status >= 500 else types.INVALID_REQUEST
            await _error(self.send, status, code, text, kept)
            return
        await self.send(message)


def _is_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"application/json")
        for name, value in headers
    )
