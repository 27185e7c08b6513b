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
HEAD_BYTES = 65536  # the first event is well within this


@dataclass(frozen=True)
class Sample:
    ttft: float | None  # seconds; None when no text arrived
    total: float
    chunks: int  # text deltas received
    error: str = ""

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
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=2000),
    )


async def chat_stream(
    client: httpx.AsyncClient,
    target: ChatTarget,
    *,
    until: asyncio.Event | None = None,
    on_first: Callable[[], None] | None = None,
) -> Sample:
    """One message to our endpoint, read to the end of the stream, or, once `until` is set,
    closed by the client (the held streams of the concurrency ramp)."""
    url = f"{target.base_url}/assistant/c/{target.conversation_id}/messages/"
    headers = {
        "Cookie": f"sessionid={target.session_key}; csrftoken={CSRF_TOKEN}",
        "X-CSRFToken": CSRF_TOKEN,
        "Origin": target.base_url,
        "HX-Request": "true",
        "Accept": "text/event-stream",
    }
    form = {"message": QUESTION, "model": target.model_key, "page_url": "", "surface": "page"}
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    tail = b""
    stop_url = head = b""
    try:
        async with client.stream("POST", url, data=form, headers=headers) as response:
            if response.status_code != 200:
                body = (await response.aread())[:200].decode(errors="replace")
                error = f"HTTP {response.status_code}: {body}"
                return Sample(None, time.perf_counter() - started, 0, error)
            async for data in response.aiter_raw():
                window = tail + data
                found = window.count(TEXT_APPEND)
                if found:
                    chunks += found
                    if first is None:
                        first = time.perf_counter()
                        if on_first is not None:
                            on_first()
                if not stop_url and len(head) < HEAD_BYTES:
                    head += data
                    found_stop = STOP_URL.search(head)
                    stop_url = found_stop.group(1) if found_stop else b""
                # Keep enough bytes to find a marker cut in two by the read boundary.
                tail = window[-(len(TEXT_APPEND) - 1) :]
                if until is not None and until.is_set():
                    break
        end = time.perf_counter()
        if until is not None and until.is_set() and stop_url:
            # The answer outlives the stream (a turn runs to its end): the user stops it, so
            # that the next level starts on an idle worker.
            await client.post(target.base_url + stop_url.decode(), headers=headers)
    except httpx.HTTPError as error:
        return Sample(None, time.perf_counter() - started, chunks, type(error).__name__)
    return Sample(None if first is None else first - started, end - started, chunks)
