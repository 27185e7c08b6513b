"""One measured stream, by each path the bench compares.

- direct: the openai SDK straight to the fake upstream (what the provider alone costs);
- gateway: the openai SDK through an OpenAI-compatible gateway (LiteLLM's proxy);
- chat: our chat endpoint, as the browser calls it: a form POST with the session and CSRF
  cookies, answered with text/event-stream; read with httpx as raw bytes.

Time to first token (TTFT) is the time from sending the request to the first text delta:
a chunk whose delta has content (SDK paths), or the first SSE event that appends text to
the answer (our endpoint). Total time ends with the last byte of the stream.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import openai

QUESTION = "How many orders came in this week?"
# Every text delta of our stream appends to the answer's text element (assistant/stream.py).
TEXT_APPEND = b'-text" hx-swap="beforeend">'
# The Stop button of the answer (assistant/partials/message.html), in the stream's first event.
STOP_URL = re.compile(rb'hx-post="(/assistant/c/\d+/messages/\d+/stop/)"')
# The turn's follower (assistant/partials/turn_follower.html), in the stream's first event too.
FOLLOW_URL = re.compile(rb'hx-sse:connect="(/assistant/turns/[0-9a-f]{32}/)"')
HEAD_BYTES = 65536  # the first event is well within this


@dataclass(frozen=True)
class Sample:
    ttft: float | None  # seconds; None when no text arrived
    total: float
    chunks: int  # text deltas received
    error: str = ""
    # Our endpoint's streams only: when the first text delta came, by perf_counter() and by
    # time.time() (the clock the fake upstream's stamps are read by); when the headers came.
    first_at: float | None = None
    first_wall: float | None = None
    opened_wall: float | None = None

    @property
    def ok(self) -> bool:
        return not self.error and self.ttft is not None


def sdk_client(base_url: str, api_key: str = "sk-bench-direct") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=120.0,
    )


async def sdk_stream(client: openai.AsyncOpenAI, model: str) -> Sample:
    """The request our OpenAI-compatible adapter makes, read as an SDK user would."""
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=4096,
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    except openai.OpenAIError as error:
        return Sample(None, time.perf_counter() - started, chunks, f"{type(error).__name__}")
    end = time.perf_counter()
    return Sample(None if first is None else first - started, end - started, chunks)


@dataclass(frozen=True)
class ChatTarget:
    """Where and as whom to post: the app's URL, a session and a conversation of its user."""

    base_url: str
    session_key: str
    conversation_id: int
    model_key: str


CSRF_TOKEN = "benchcsrftokenbenchcsrftoken0123"  # 32 characters: an unmasked CSRF secret


def chat_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(120.0, connect=30.0, pool=None),
        # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) could close
        # one as it is reused (a ReadError that is the bench's, not the app's).
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=2000, keepalive_expiry=2.0
        ),
    )


@dataclass
class _Reading:
    """What one of our streams brought so far: text deltas (found across read boundaries),
    when the first came, and the stream's head (its first event, with the Stop button and the
    turn's follower)."""

    on_first: Callable[[], None] | None = None
    chunks: int = 0
    first_at: float | None = None
    first_wall: float | None = None
    opened_wall: float | None = None
    head: bytes = b""
    keep_head: bool = True  # until the caller found what it looks for in it
    _tail: bytes = b""

    def feed(self, data: bytes) -> None:
        window = self._tail + data
        found = window.count(TEXT_APPEND)
        if found:
            self.chunks += found
            if self.first_at is None:
                self.first_at, self.first_wall = time.perf_counter(), time.time()
                if self.on_first is not None:
                    self.on_first()
        if self.keep_head:
            self.head += data
            self.keep_head = len(self.head) < HEAD_BYTES
        # Keep enough bytes to find a marker cut in two by the read boundary.
        self._tail = window[-(len(TEXT_APPEND) - 1) :]

    def in_head(self, pattern: re.Pattern[bytes]) -> str:
        found = pattern.search(self.head)
        return found.group(1).decode() if found else ""

    def sample(self, since: float, end: float, error: str = "") -> Sample:
        ttft = None if self.first_at is None else self.first_at - since
        return Sample(ttft, end - since, self.chunks, error, self.first_at, self.first_wall,
                      self.opened_wall)  # fmt: skip


def _headers(target: ChatTarget) -> dict[str, str]:
    return {
        "Cookie": f"sessionid={target.session_key}; csrftoken={CSRF_TOKEN}",
        "X-CSRFToken": CSRF_TOKEN,
        "Origin": target.base_url,
        "HX-Request": "true",
        "Accept": "text/event-stream",
    }


async def chat_stream(
    client: httpx.AsyncClient,
    target: ChatTarget,
    *,
    until: asyncio.Event | None = None,
    on_first: Callable[[], None] | None = None,
    on_follow_url: Callable[[str], None] | None = None,
    question: str = QUESTION,
) -> Sample:
    """One message to our endpoint, read to the end of the stream, or, once `until` is set,
    closed by the client (the held streams of the concurrency ramp). `on_follow_url` gets the
    turn's follow URL as soon as the first event brings it."""
    url = f"{target.base_url}/assistant/c/{target.conversation_id}/messages/"
    headers = _headers(target)
    form = {"message": question, "model": target.model_key, "page_url": "", "surface": "page"}
    started = time.perf_counter()
    reading = _Reading(on_first)
    stop_url = follow_url = ""
    try:
        async with client.stream("POST", url, data=form, headers=headers) as response:
            if response.status_code != 200:
                body = (await response.aread())[:200].decode(errors="replace")
                error = f"HTTP {response.status_code}: {body}"
                return Sample(None, time.perf_counter() - started, 0, error)
            reading.opened_wall = time.time()
            async for data in response.aiter_raw():
                reading.feed(data)
                if reading.keep_head:
                    stop_url = stop_url or reading.in_head(STOP_URL)
                    if on_follow_url is not None and not follow_url:
                        follow_url = reading.in_head(FOLLOW_URL)
                        if follow_url:
                            on_follow_url(follow_url)
                    if stop_url and (follow_url or on_follow_url is None):
                        reading.keep_head = False
                if until is not None and until.is_set():
                    break
        end = time.perf_counter()
    except httpx.HTTPError as error:
        return reading.sample(started, time.perf_counter(), type(error).__name__)
    if until is not None and until.is_set() and stop_url:
        # The answer outlives the stream (a turn runs to its end): the user stops it, so
        # that the next level starts on an idle worker.
        try:
            await client.post(target.base_url + stop_url, headers=headers)
        except httpx.HTTPError as error:
            return reading.sample(started, end, f"Stop: {type(error).__name__}")
    return reading.sample(started, end)


async def follow_stream(
    client: httpx.AsyncClient,
    target: ChatTarget,
    follow_url: str,
    *,
    since: float | None = None,
    until: asyncio.Event | None = None,
    on_first: Callable[[], None] | None = None,
) -> Sample:
    """A follower of a turn, as another page or tab opens it: GET the turn's follow URL with
    the same session (an EventSource: its cookies, `Accept: text/event-stream`), read to the
    turn's end or until `until` is set. Times count from `since` (perf_counter(); default: when
    this request starts)."""
    headers = {
        "Cookie": f"sessionid={target.session_key}; csrftoken={CSRF_TOKEN}",
        "Accept": "text/event-stream",
        "Cache-Control": "no-cache",
    }
    started = time.perf_counter() if since is None else since
    reading = _Reading(on_first, keep_head=False)
    try:
        async with client.stream("GET", target.base_url + follow_url, headers=headers) as response:
            if response.status_code != 200:
                body = (await response.aread())[:200].decode(errors="replace")
                error = f"follower: HTTP {response.status_code}: {body}"
                return Sample(None, time.perf_counter() - started, 0, error)
            reading.opened_wall = time.time()
            async for data in response.aiter_raw():
                reading.feed(data)
                if until is not None and until.is_set():
                    break
    except httpx.HTTPError as error:
        return reading.sample(started, time.perf_counter(), f"follower: {type(error).__name__}")
    return reading.sample(started, time.perf_counter())
