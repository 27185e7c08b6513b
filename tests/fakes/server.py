"""The machinery every fake provider shares: a starlette app served by uvicorn on 127.0.0.1
in a background thread, the reply script, request recording and stream pacing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.script import HttpError, Raw, Reply, ScriptItem, demo_reply

_PLACEHOLDER = re.compile(
    r"\{(?P<name>key|header:[\w-]+)(?P<slice>\[(?P<start>-?\d*):(?P<end>-?\d*)\])?\}"
)
# (bytes to send, whether it is a content chunk: a piece of text, reasoning or arguments)
Frame = tuple[bytes, bool]


class DroppedConnection(Exception):
    """Raised inside a streaming response to cut the connection without a clean end."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DroppedConnection):
                return False
            if isinstance(exc, BaseExceptionGroup) and any(
                isinstance(e, DroppedConnection) for e in exc.exceptions
            ):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any = None  # parsed JSON, or None
    raw: bytes = field(default=b"", repr=False)

    @property
    def json(self) -> Any:
        return self.body


class FakeServer:
    """One fake provider. Subclasses add the routes of their wire format.

    Use as a context manager or call start()/stop(). `url` is the server root;
    `base_url` is what the provider's SDK takes as its base URL.
    """

    api_prefix = ""
    default_models: tuple[str, ...] = ("model-a", "model-b")

    def __init__(
        self,
        port: int = 0,
        default: Reply | None = None,
        responder: Callable[[Any], ScriptItem] | None = None,
    ) -> None:
        self.default: Reply = default or demo_reply()
        # Computes an unscripted request's reply from its body (the demo model), if given.
        self.responder = responder
        self._initial_default = self.default
        self.models: list[str] = list(self.default_models)
        self.models_error: HttpError | None = None
        self.requests: list[RecordedRequest] = []
        self._script: deque[ScriptItem] = deque()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = Starlette(routes=self.routes())
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.url + self.api_prefix

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *items: ScriptItem) -> None:
        """Queue replies; each generation request takes the next one."""
        with self._lock:
            self._script.extend(items)

    def next_item(self, body: Any = None) -> ScriptItem:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self.responder is not None and isinstance(body, dict):
            return self.responder(body)
        return self.default

    def reset(self) -> None:
        """Forget the script, the recorded requests and any per-test configuration."""
        with self._lock:
            self._script.clear()
        self.requests.clear()
        self.models = list(self.default_models)
        self.models_error = None
        self.default = self._initial_default

    def generation_requests(self) -> list[RecordedRequest]:
        """Recorded requests other than model listing."""
        return [r for r in self.requests if r.method == "POST"]

    @property
    def last_body(self) -> Any:
        return self.generation_requests()[-1].body

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeServer:
        import uvicorn

        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._sock.listen(2048)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (the standalone entry points)."""
        import uvicorn

        config = uvicorn.Config(self.app, log_level="info", lifespan="off")
        self._sock.listen(2048)
        uvicorn.Server(config).run(sockets=[self._sock])

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for subclasses ----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    async def record(self, request: Request) -> RecordedRequest:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw=raw,
        )
        self.requests.append(recorded)
        return recorded

    @staticmethod
    def api_key_of(recorded: RecordedRequest) -> str:
        auth = recorded.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        return (
            recorded.headers.get("x-api-key")
            or recorded.headers.get("x-goog-api-key")
            or recorded.query.get("key", "")
        )

    def immediate_response(self, item: HttpError | Raw, recorded: RecordedRequest) -> Response:
        """The answer to a scripted item that is not a streamed reply."""
        if isinstance(item, Raw):
            return Response(item.body, status_code=item.status, media_type=item.content_type)
        return self.error_response(item, recorded)

    def echoed(self, message: str, recorded: RecordedRequest) -> str:
        """`message` with its {key} and {header:Name} placeholders (sliced or whole) filled
        from the request (see HttpError)."""

        def value(match: re.Match[str]) -> str:
            name, start, end = match.group("name"), match.group("start"), match.group("end")
            if name == "key":
                secret = self.api_key_of(recorded)
            else:
                secret = recorded.headers.get(name.removeprefix("header:").lower(), "")
            if match.group("slice") is None:
                return secret
            return secret[int(start) if start else None : int(end) if end else None]

        return _PLACEHOLDER.sub(value, message)

    def error_response(self, error: HttpError, recorded: RecordedRequest) -> JSONResponse:
        message = self.echoed(error.message or self.default_error_message(error.status), recorded)
        headers = dict(error.headers)
        if error.retry_after is not None:
            headers["retry-after"] = error.retry_after
        body = self.error_body(error, message)
        return JSONResponse(body, status_code=error.status, headers=headers)

    def error_body(self, error: HttpError, message: str) -> dict[str, Any]:
        """The provider's JSON error body for `error`, carrying `message`."""
        raise NotImplementedError

    @staticmethod
    def default_error_message(status: int) -> str:
        return {
            400: "The request was malformed.",
            401: "Invalid API key.",
            403: "Permission denied.",
            404: "The model does not exist.",
            429: "Rate limit reached.",
            500: "The server had an error.",
            503: "The service is overloaded.",
        }.get(status, f"HTTP {status}")

    def sse(self, reply: Reply, frames: AsyncIterator[Frame]) -> StreamingResponse:
        return StreamingResponse(
            paced(reply, frames),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )


async def paced(reply: Reply, frames: AsyncIterator[Frame]) -> AsyncIterator[bytes]:
    """Apply a reply's delay, stall and drop to a stream of frames."""
    sent = 0
    if reply.drop_after == 0:
        raise DroppedConnection
    async for data, is_content in frames:
        if is_content and reply.delay:
            await asyncio.sleep(reply.delay)
        yield data
        if not is_content:
            continue
        sent += 1
        if reply.drop_after is not None and sent >= reply.drop_after:
            raise DroppedConnection
        if reply.stall_after is not None and sent == reply.stall_after:
            await asyncio.sleep(reply.stall)


def sse_frame(data: Any, event: str | None = None, *, crlf: bool = False) -> bytes:
    """One server-sent event. `data` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    end = "\r\n" if crlf else "\n"
    head = f"event: {event}{end}" if event else ""
    return f"{head}data: {payload}{end}{end}".encode()


def standalone_main(
    make: Callable[[int, Reply], FakeServer],
    description: str,
    demo: Callable[[Any], ScriptItem] | None = None,
) -> None:
    """`python -m tests.fakes.<name>_server --port P [--chunks N --chunk-size K --delay S]`,
    and `--demo` where the fake has a demo model (`demo`: its responder)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    if demo is not None:
        parser.add_argument(
            "--demo", action="store_true", help="answer as the offline demo model (tools)"
        )
    parser.add_argument("--chunks", type=int, default=None, help="chunks per default reply")
    parser.add_argument("--chunk-size", type=int, default=4, help="characters per chunk")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each chunk")
    args = parser.parse_args()
    server = make(args.port, demo_reply(args.chunks, args.chunk_size, args.delay))
    if getattr(args, "demo", False):
        server.responder = demo
    print(f"{description} listening on {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
