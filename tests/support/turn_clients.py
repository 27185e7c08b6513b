"""Clients of the chat for the multi-host tests (tests/config/test_turns_across_hosts.py), and
readers of what they get back.

`ChatClient`: one signed-in user's requests through the load balancer (its session, the CSRF
cookie and header, HX-Request, as the page sends them), each pinned to one app server or left
to the round robin (tests/support/balanced_servers.py). `events(response)`: a response's
Server-Sent Events as the browser's EventSource dispatches them (ids, data lines, the `event:
done` that ends every stream of a turn). `text_of(events)`: the answer text their chunks
append. `stored_answers`: the answers as the servers stored them, read from their database.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from tests.support.balanced_servers import PIN_HEADER

ROOT = Path(__file__).resolve().parents[2]
CSRF = "k" * 32  # a CSRF cookie of our choosing, sent back in the header as the page does

# A text chunk: escaped text appended to the answer's text (assistant/stream/append.html).
_CHUNK = re.compile(
    r'<hx-partial hx-target="#message-(\d+)-text" hx-swap="beforeend">(.*?)</hx-partial>', re.DOTALL
)


# Server-Sent Events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    data: str
    id: int | None = None  # the event's own `id:` line, if it had one
    name: str = "message"

    @property
    def done(self) -> bool:
        return self.name == "done"


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """The response's events, in order, as they arrive."""
    event_id: int | None = None
    name = ""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield Event("\n".join(data), event_id, name or "message")
            event_id, name, data = None, "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = int(value)
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)


def text_of(received: Iterable[Event]) -> str:
    """The answer text the events' chunks append, in order."""
    return "".join(
        html.unescape(match.group(2)) for event in received for match in _CHUNK.finditer(event.data)
    )


def consecutive_ids(received: Sequence[Event]) -> bool:
    """The events with an id are numbered 1, 2, 3…: none missing, none twice."""
    ids = [event.id for event in received if event.id is not None]
    return ids == list(range(1, len(ids) + 1))


@dataclass(frozen=True)
class StartedTurn:
    """What the first event of the response that started a turn tells the page."""

    key: str
    conversation: int
    message: int  # the answer's


def started_turn(first: Event) -> StartedTurn:
    key = re.search(r'id="turn-([0-9a-f]{32})"', first.data)
    stop = re.search(r'hx-post="/assistant/c/(\d+)/messages/(\d+)/stop/"', first.data)
    assert key and stop, first.data[:2000]
    return StartedTurn(key.group(1), int(stop.group(1)), int(stop.group(2)))


def shown_text(page: str, message: int) -> str | None:
    """The text an answer still being written shows on a page (None: not shown so)."""
    opening = f'<div class="message-text streaming-text" id="message-{message}-text">'
    found = re.search(re.escape(opening) + "(.*?)</div>", page, re.DOTALL)
    return None if found is None else html.unescape(found.group(1))


# The chat's requests ------------------------------------------------------------------------------


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (unused on the loopback's plain HTTP; httpx builds one
    per client otherwise, some 50 ms of CPU each: seconds for a hundred users at once)."""
    return ssl.create_default_context()


class ChatClient:
    """One signed-in user's browser, through the load balancer at `url`; `pin`: the app server a
    request must reach (None: the round robin's choice)."""

    def __init__(self, url: str, session: str, model: str) -> None:
        self.model = model
        self.http = httpx.AsyncClient(
            base_url=url,
            cookies={"sessionid": session, "csrftoken": CSRF},
            timeout=httpx.Timeout(30.0),
            verify=_tls(),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.aclose()

    @staticmethod
    def _headers(pin: str | None, **extra: str) -> dict[str, str]:
        headers = {"HX-Request": "true", **extra}
        if pin is not None:
            headers[PIN_HEADER] = pin
        return headers

    def send(
        self, message: str, pin: str | None = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """POST a message in a new conversation; the response streams the turn."""
        return self.http.stream(
            "POST",
            "/assistant/messages/",
            data={"message": message, "model": self.model},
            headers=self._headers(pin, Accept="text/event-stream", **{"X-CSRFToken": CSRF}),
        )

    def follow(
        self, turn_key: str, pin: str | None = None, after: int | None = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """Follow a turn as a page's follower does; `after`: the Last-Event-ID it resumes
        from."""
        extra = {"Accept": "text/event-stream"}
        if after is not None:
            extra["Last-Event-ID"] = str(after)
        return self.http.stream(
            "GET", f"/assistant/turns/{turn_key}/", headers=self._headers(pin, **extra)
        )

    async def stop(self, turn: StartedTurn, pin: str | None = None) -> httpx.Response:
        """The Stop button of the turn's answer."""
        return await self.http.post(
            f"/assistant/c/{turn.conversation}/messages/{turn.message}/stop/",
            headers=self._headers(pin, **{"X-CSRFToken": CSRF}),
        )

    async def page(self, conversation: int, pin: str | None = None) -> httpx.Response:
        """The conversation's page, as the browser opens it (not through htmx)."""
        headers = {} if pin is None else {PIN_HEADER: pin}
        return await self.http.get(f"/assistant/c/{conversation}/", headers=headers)


# The servers' database ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    model: str  # the fake's model, as the chat's form names it
    sessions: list[str]  # one signed-in App user's session key each


def seed(env: dict[str, str], fake_base_url: str, users: int) -> Seeded:
    """A provider served by the fake and `users` signed-in App users, in the servers' database
    (tests/support/load_seed.py, with the servers' environment: their secret key signs the
    sessions)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.load_seed", fake_base_url, str(users)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    seeded = json.loads(done.stdout.strip().splitlines()[-1])
    return Seeded(seeded["model"], seeded["sessions"])


@dataclass(frozen=True)
class Stored:
    status: str
    content: str


def stored_answers(database_url: str, turn_keys: Iterable[str]) -> dict[str, list[Stored]]:
    """Each turn's answers as stored, in order, from the servers' database."""
    keys = list(turn_keys)
    query = "SELECT turn_key, status, content FROM assistant_message WHERE role = 'assistant'"
    if database_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(database_url) as connection:
            rows = connection.execute(
                query + " AND turn_key = ANY(%s) ORDER BY id", [keys]
            ).fetchall()
    else:
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            marks = ", ".join("?" * len(keys))
            rows = connection.execute(
                query + f" AND turn_key IN ({marks}) ORDER BY id", keys
            ).fetchall()
        finally:
            connection.close()
    answers: dict[str, list[Stored]] = {key: [] for key in keys}
    for turn_key, status, content in rows:
        answers[turn_key].append(Stored(status, content))
    return answers
