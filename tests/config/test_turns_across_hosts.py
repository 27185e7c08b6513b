"""Issue #17 on more than one host: a chat turn runs as work of the app server that started it,
and any page on any server follows it through the turn channel (Redis Streams with
CACHE_URL=redis://…, else PostgreSQL's LISTEN/NOTIFY).

Two app servers behind Debian's haproxy, round robin (tests/support/balanced_servers.py), on
one database, with a heartbeat of half a second so that a dead server's turn is found in
seconds. Every request goes through haproxy; the tests tell the servers apart by its
X-Served-By header and reach one server in particular with its pin header, as a sticky
session would. The fake provider answers each message with a text of its own (the token of
the question in every line, characters the page escapes, new lines), slowly enough to leave
and come back mid-answer, and the tests compare what the followers rebuilt, and what the
servers stored, with that text exactly.

Run by `make test-load` (.ci/run: on PostgreSQL and Redis). Without a channel that spans
processes (SQLite and no Redis) the tests are skipped, or fail under CI=true.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Reply
from tests.support.balanced_servers import (  # the fixtures, and their type
    Balanced,
    balanced_database_url,  # noqa: F401
    balanced_servers,  # noqa: F401
)
from tests.support.turn_clients import (
    ChatClient,
    Event,
    StartedTurn,
    Stored,
    consecutive_ids,
    events,
    seed,
    shown_text,
    started_turn,
    stored_answers,
    text_of,
)

pytestmark = pytest.mark.load

HEARTBEAT = 0.5  # TURN_HEARTBEAT_SECONDS of the servers
STALE_AFTER = 3.0  # TURN_STALE_AFTER
WAIT = 30.0  # seconds any step may take before the test gives up on it


def _shared_channel() -> str | None:
    """The turn channel the servers share, as configured by the environment (None: none)."""
    if os.environ.get("CACHE_URL", "").startswith(("redis://", "rediss://")):
        return "Redis Streams"
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "PostgreSQL LISTEN/NOTIFY"
    return None


@pytest.fixture
def balanced_environment() -> dict[str, str]:
    """The servers' short heartbeat; and a channel across processes, or no test."""
    if _shared_channel() is None:
        reason = (
            "the turns across hosts need a turn channel the servers share: "
            "CACHE_URL=redis://… or DATABASE_URL=postgres://…"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"Cannot run under CI: {reason}")
        pytest.skip(reason)
    return {"TURN_HEARTBEAT_SECONDS": str(HEARTBEAT), "TURN_STALE_AFTER": str(STALE_AFTER)}


# The fake and its answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    lines: int  # of the answer (answer_for)
    chunk_size: int  # characters per streamed chunk
    delay: float  # seconds before each chunk


NORMAL = Pace(lines=20, chunk_size=10, delay=0.04)  # ~1,000 characters in ~4 s
SLOW = Pace(lines=60, chunk_size=10, delay=0.05)  # ~3,000 characters in ~15 s
LOAD = Pace(lines=12, chunk_size=12, delay=0.05)  # ~600 characters in ~2.5 s


def new_token(number: int = 0) -> str:
    return f"tok-{number:03d}-{secrets.token_hex(4)}"


def question(token: str) -> str:
    return f"Please tell me about {token}."


def answer_for(token: str, lines: int) -> str:
    """What the fake answers a question carrying `token`: the token in every line (no line
    could be taken for another turn's), with characters the page escapes, and new lines."""
    return "".join(f"{token} line {n}: <b>&amp;</b> & 3 > 2.\n" for n in range(lines))


class TurnFake(FakeOpenAI):
    """Answers each chat completion with answer_for(the question's token) at `pace`, and keeps
    what it answered each token."""

    def __init__(self) -> None:
        super().__init__()
        self.pace = NORMAL
        self.answers: dict[str, str] = {}

    async def chat_completions(self, request: Any) -> Any:
        body = json.loads(await request.body())
        asked = next(m for m in reversed(body["messages"]) if m["role"] == "user")["content"]
        if isinstance(asked, list):
            asked = " ".join(part.get("text", "") for part in asked)
        token = next(word.rstrip(".") for word in asked.split() if word.startswith("tok-"))
        pace = self.pace
        text = self.answers[token] = answer_for(token, pace.lines)
        reply = Reply(text=text, chunk_size=pace.chunk_size, delay=pace.delay)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self.sse(reply, self._chat_frames(reply, body.get("model", ""), include_usage))


@pytest.fixture
def fake() -> Iterator[TurnFake]:
    with TurnFake() as server:
        yield server


# Reading streams ------------------------------------------------------------------------------


async def read_until(
    response: httpx.Response, enough: Callable[[list[Event]], bool]
) -> list[Event]:
    """The response's events up to the first after which `enough` holds (or its end)."""
    got: list[Event] = []
    async for event in events(response):
        got.append(event)
        if enough(got):
            break
    return got


async def collect(response: httpx.Response, into: list[Event]) -> None:
    """Every event of the response, into `into` as they arrive."""
    async for event in events(response):
        into.append(event)  # noqa: PERF401 (one by one: the test reads them meanwhile)


async def until(condition: Callable[[], object], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Waited {within:.0f} s for {what}")
        await asyncio.sleep(0.02)


async def finished(reader: asyncio.Task[None], what: str, within: float = WAIT) -> None:
    try:
        async with asyncio.timeout(within):
            await reader
    except TimeoutError:
        pytest.fail(f"Waited {within:.0f} s for {what}")


def other_than(name: str) -> str:
    return {"app1": "app2", "app2": "app1"}[name]


def final_render(received: list[Event], turn: StartedTurn, status: str) -> bool:
    """The stream ended with the answer's final render in that status, then `done`."""
    return (
        len(received) >= 2
        and received[-1].done
        and f'status-{status}" id="message-{turn.message}"' in received[-2].data
    )


def the_answer(database_url: str, turn: StartedTurn) -> Stored:
    [answer] = stored_answers(database_url, [turn.key])[turn.key]
    return answer


def quiet(balanced: Balanced, *names: str) -> str:
    """The errors in those servers' logs (empty: none)."""
    return "\n".join(
        balanced.server(name).log_text()[-3000:]
        for name in names
        if "Traceback" in (log := balanced.server(name).log_text()) or "ERROR" in log
    )


async def ask(
    chat: ChatClient, token: str, enough: Callable[[list[Event]], bool]
) -> tuple[str, list[Event], StartedTurn]:
    """Ask the question of `token` through the balancer and read its answer until `enough`,
    then leave: the server that generates it, the events read, the turn."""
    async with chat.send(question(token)) as response:
        assert response.status_code == 200
        generating = response.headers["X-Served-By"]
        posted = await read_until(response, enough)
    return generating, posted, started_turn(posted[0])


# A turn followed through the other server -----------------------------------------------------


async def test_a_turn_started_through_one_server_is_followed_through_the_other_after_navigating(
    balanced_servers: Balanced,  # noqa: F811
    balanced_database_url: str,  # noqa: F811
    fake: TurnFake,
):
    balanced = balanced_servers
    seeded = seed(balanced.env, fake.base_url, 1)
    token = new_token()
    full = answer_for(token, NORMAL.lines)
    async with ChatClient(balanced.url, seeded.sessions[0], seeded.model) as chat:
        # A third of the answer on this page, then the user clicks to another page.
        generating, posted, turn = await ask(
            chat, token, lambda got: len(text_of(got)) >= len(full) // 3
        )
        other = other_than(generating)

        page = await chat.page(turn.conversation, pin=other)
        assert page.status_code == 200
        assert page.headers["X-Served-By"] == other
        assert f'id="turn-{turn.key}"' in page.text
        assert f'hx-sse:connect="/assistant/turns/{turn.key}/"' in page.text
        so_far = shown_text(page.text, turn.message)
        assert so_far, page.text[-3000:]  # the text stored so far, at once
        assert full.startswith(so_far) and len(so_far) < len(full)

        followed: list[Event] = []
        async with chat.follow(turn.key, pin=other) as response:
            assert response.status_code == 200
            assert response.headers["X-Served-By"] == other
            reader = asyncio.create_task(collect(response, followed))
            await until(lambda: followed, "the follower's first event")
            # The answer was still being written when the follower had its first event: what
            # follows the replay came live, from the other server.
            assert the_answer(balanced_database_url, turn).status == "streaming"
            await finished(reader, "the end of the followed turn")

    assert followed[0].id == 1  # the replay starts at the turn's reset…
    assert f'hx-target="#turn-{turn.key}-messages" hx-swap="innerHTML' in followed[0].data
    assert consecutive_ids(followed)  # …and misses nothing, twice nothing
    assert final_render(followed, turn, "complete")
    assert text_of(followed) == fake.answers[token] == full
    # The same events on both servers: the response that started the turn showed the turn's
    # place itself, and follows it from the event after the reset.
    assert posted[1:] == followed[1 : len(posted)]
    assert the_answer(balanced_database_url, turn) == Stored("complete", full)
    assert not quiet(balanced, "app1", "app2")


# Stop through the other server ----------------------------------------------------------------


async def test_stop_through_the_server_not_generating_ends_the_turn_for_every_follower(
    balanced_servers: Balanced,  # noqa: F811
    balanced_database_url: str,  # noqa: F811
    fake: TurnFake,
):
    balanced = balanced_servers
    fake.pace = SLOW
    seeded = seed(balanced.env, fake.base_url, 1)
    token = new_token()
    full = answer_for(token, SLOW.lines)
    async with ChatClient(balanced.url, seeded.sessions[0], seeded.model) as chat:
        generating, _, turn = await ask(chat, token, lambda got: bool(text_of(got)))
        other = other_than(generating)

        followers: dict[str, list[Event]] = {generating: [], other: []}
        async with (
            chat.follow(turn.key, pin=generating) as on_generating,
            chat.follow(turn.key, pin=other) as on_other,
        ):
            assert on_generating.headers["X-Served-By"] == generating
            assert on_other.headers["X-Served-By"] == other
            readers = [
                asyncio.create_task(collect(on_generating, followers[generating])),
                asyncio.create_task(collect(on_other, followers[other])),
            ]
            await until(lambda: all(map(text_of, followers.values())), "text on both followers")
            stopped = await chat.stop(turn, pin=other)
            assert stopped.status_code == 204
            assert stopped.headers["X-Served-By"] == other
            for reader in readers:
                await finished(reader, "the end of the stopped turn")

    answer = the_answer(balanced_database_url, turn)
    assert answer.status == "stopped"
    # Stopped mid-answer: part of the text, well before the fake was done sending.
    assert answer.content and full.startswith(answer.content)
    assert len(answer.content) < len(full) // 2
    for name, received in followers.items():
        assert final_render(received, turn, "stopped"), (name, received[-2:])
        assert "Stopped." in received[-2].data
        assert consecutive_ids(received), name
        assert text_of(received) == answer.content, name
    assert followers[generating] == followers[other]
    assert not quiet(balanced, "app1", "app2")


# The generating server dies -------------------------------------------------------------------


async def test_killing_the_generating_server_mid_turn_shows_interrupted_through_the_survivor(
    balanced_servers: Balanced,  # noqa: F811
    balanced_database_url: str,  # noqa: F811
    fake: TurnFake,
):
    balanced = balanced_servers
    fake.pace = SLOW
    seeded = seed(balanced.env, fake.base_url, 1)
    token = new_token()
    full = answer_for(token, SLOW.lines)
    async with ChatClient(balanced.url, seeded.sessions[0], seeded.model) as chat:
        generating, _, turn = await ask(chat, token, lambda got: bool(text_of(got)))
        survivor = other_than(generating)
        await until(
            lambda: the_answer(balanced_database_url, turn).content, "the first progress save"
        )

        followed: list[Event] = []
        async with chat.follow(turn.key, pin=survivor) as response:
            assert response.headers["X-Served-By"] == survivor
            reader = asyncio.create_task(collect(response, followed))
            saved = the_answer(balanced_database_url, turn).content
            await until(lambda: len(text_of(followed)) > len(saved), "live text on the survivor")
            balanced.stop(generating)
            killed = time.monotonic()
            await finished(reader, "the survivor to end the turn", within=STALE_AFTER + 15)
            noticed = time.monotonic() - killed

        answer = the_answer(balanced_database_url, turn)
        assert answer.status == "interrupted"
        assert answer.content and full.startswith(answer.content)
        assert len(answer.content) < len(full)
        assert final_render(followed, turn, "interrupted"), followed[-2:]
        assert "Interrupted: the connection closed before the answer was complete." in (
            followed[-2].data
        )
        assert consecutive_ids(followed)
        # The follower had what the dead server published; it had saved that much or less.
        assert text_of(followed).startswith(answer.content)

        page = await chat.page(turn.conversation, pin=survivor)
        assert page.headers["X-Served-By"] == survivor
        assert f'status-interrupted" id="message-{turn.message}"' in page.text
        assert f'id="turn-{turn.key}"' not in page.text
    print(  # noqa: T201 (the load report; make test-load runs with -s)
        f"\nAcross hosts ({_shared_channel()}): {generating} killed mid-turn; its follower on "
        f"{survivor} saw the answer interrupted {noticed:.1f} s later "
        f"(heartbeat {HEARTBEAT} s, stale after {STALE_AFTER} s)."
    )
    assert not quiet(balanced, survivor)


# 100 turns, followers that leave and come back ------------------------------------------------

TURNS = 100
# Where each turn's follower leaves (share of the answer's text it has), before it comes back
# with Last-Event-ID on the other server; the last one reads to the end.
LEAVES = ((0.3,), (0.2, 0.6), (0.15, 0.45, 0.75))
AWAY = 0.2  # seconds a follower is gone: the turn goes on meanwhile
# The longest a follower may wait between two events: the fake sends a chunk every 50 ms, and
# a follower whose wake-up was lost waits for the channel's sweep (30 s).
SILENCE = 10.0


@dataclass
class Leg:
    served_by: str
    pinned: str
    after: int | None  # the Last-Event-ID it sent
    received: list[Event]
    silence: float = 0.0  # the longest wait between two of its events, in seconds


@dataclass
class FollowedTurn:
    token: str
    generated_by: str = ""
    turn: StartedTurn | None = None
    posted: list[Event] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)
    first_text: float = 0.0  # seconds from the POST to the first text on its response
    took: float = 0.0  # seconds from the POST to the follower's `done`

    @property
    def chain(self) -> list[Event]:
        """The events of the follower's connections, one after the other (ids only: the
        `done` of the last)."""
        return [event for leg in self.legs for event in leg.received if event.id is not None]


async def _follow_with_breaks(
    chat: ChatClient, record: FollowedTurn, full: str, leaves: tuple[float, ...]
) -> None:
    """The turn's follower: on the server that is not generating first (a page opened after
    navigating), then alternating, leaving at each of the `leaves` points."""
    assert record.turn is not None
    servers = [other_than(record.generated_by), record.generated_by]
    after: int | None = None
    for leg_number in range(len(leaves) + 1):
        pin = servers[leg_number % 2]
        limit = len(full) * leaves[leg_number] if leg_number < len(leaves) else None
        received: list[Event] = []
        async with chat.follow(record.turn.key, pin=pin, after=after) as response:
            assert response.status_code == 200, response.status_code
            leg = Leg(response.headers["X-Served-By"], pin, after, received)
            record.legs.append(leg)
            last = None
            async for event in events(response):
                now = time.monotonic()
                leg.silence = max(leg.silence, now - (last or now))
                last = now
                received.append(event)
                if limit is not None and len(text_of(record.chain)) >= limit:
                    break
        if received and received[-1].done:
            return
        after = record.chain[-1].id if record.chain else after
        await asyncio.sleep(AWAY)


async def _one_turn(url: str, session: str, model: str, number: int) -> FollowedTurn:
    record = FollowedTurn(new_token(number))
    full = answer_for(record.token, LOAD.lines)
    await asyncio.sleep(number * 0.03)  # the users start within three seconds
    async with ChatClient(url, session, model) as chat:
        began = time.monotonic()
        async with chat.send(question(record.token)) as response:
            assert response.status_code == 200, response.status_code
            record.generated_by = response.headers["X-Served-By"]
            record.posted = await read_until(response, lambda got: bool(text_of(got)))
            record.first_text = time.monotonic() - began
        record.turn = started_turn(record.posted[0])
        await _follow_with_breaks(chat, record, full, LEAVES[number % len(LEAVES)])
        record.took = time.monotonic() - began
    return record


def _streaming_time(pace: Pace) -> float:
    return pace.delay * len(answer_for(new_token(), pace.lines)) / pace.chunk_size


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _failures(record: FollowedTurn, fake: TurnFake, stored: list[Stored]) -> list[str]:
    turn, chain, full = record.turn, record.chain, fake.answers.get(record.token)
    assert turn is not None
    found = []
    served = [leg.served_by for leg in record.legs]
    if served != [leg.pinned for leg in record.legs]:
        found.append(f"a follower reached the wrong server: {served}")
    if any(a == b for a, b in itertools.pairwise(served)) or (served[:1] == [record.generated_by]):
        found.append(f"the follower did not alternate between the servers: {served}")
    if not (record.legs and record.legs[-1].received and record.legs[-1].received[-1].done):
        found.append("the last follower did not end with `done`")
    if not consecutive_ids(chain):
        found.append(f"event ids with a gap or twice: {[e.id for e in chain]}")
    if not chain or f'hx-target="#turn-{turn.key}-messages"' not in chain[0].data:
        found.append("the replay did not start at the turn's reset")
    if max(leg.silence for leg in record.legs) > SILENCE:
        found.append(
            f"a follower waited {max(leg.silence for leg in record.legs):.1f} s for an event"
        )
    if record.posted[1:] != chain[1 : len(record.posted)]:
        found.append("the follower's events differ from those of the response that started it")
    rebuilt = text_of(chain)
    if full is None or rebuilt != full:
        differs = next(
            (n for n, (a, b) in enumerate(zip(rebuilt, full or "", strict=False)) if a != b),
            min(len(rebuilt), len(full or "")),
        )
        found.append(
            f"the text differs from the fake's from character {differs} on: "
            f"{rebuilt[differs : differs + 40]!r} for {(full or '')[differs : differs + 40]!r}"
        )
    if stored != [Stored("complete", full or "")]:
        found.append(f"stored {stored}")
    return [f"{record.token}: {failure}" for failure in found]


async def _all_turns(balanced: Balanced, seeded_sessions: list[str], model: str) -> list[Any]:
    return await asyncio.gather(
        *(
            _one_turn(balanced.url, session, model, number)
            for number, session in enumerate(seeded_sessions)
        ),
        return_exceptions=True,
    )


async def test_100_turns_with_followers_that_leave_and_come_back_all_end_complete(
    balanced_servers: Balanced,  # noqa: F811
    balanced_database_url: str,  # noqa: F811
    fake: TurnFake,
):
    balanced = balanced_servers
    fake.pace = LOAD
    seeded = seed(balanced.env, fake.base_url, TURNS)
    began = time.monotonic()
    async with asyncio.timeout(150):
        outcomes = await _all_turns(balanced, seeded.sessions, seeded.model)
    elapsed = time.monotonic() - began

    errors = [repr(outcome) for outcome in outcomes if isinstance(outcome, BaseException)]
    records: list[FollowedTurn] = [o for o in outcomes if isinstance(o, FollowedTurn)]
    stored = stored_answers(
        balanced_database_url, [r.turn.key for r in records if r.turn is not None]
    )
    failures = errors + [
        failure
        for record in records
        if record.turn is not None
        for failure in _failures(record, fake, stored[record.turn.key])
    ]
    failed = len(errors) + len({failure.split(":")[0] for failure in failures[len(errors) :]})
    resumed = [leg for record in records for leg in record.legs if leg.after is not None]
    longest = max((leg.silence for record in records for leg in record.legs), default=0.0)
    print(  # noqa: T201 (the load report; make test-load runs with -s)
        f"\nAcross hosts ({_shared_channel()}): {TURNS} turns in {elapsed:.1f} s, "
        f"{TURNS - failed} complete; generated on app1/app2: "
        f"{sum(r.generated_by == 'app1' for r in records)}/"
        f"{sum(r.generated_by == 'app2' for r in records)}; "
        f"{len(resumed)} reconnections with Last-Event-ID, on app1/app2: "
        f"{sum(leg.served_by == 'app1' for leg in resumed)}/"
        f"{sum(leg.served_by == 'app2' for leg in resumed)}.\n"
        f"  first text: p50 {_percentile([r.first_text for r in records], 0.5):.2f} s, "
        f"p95 {_percentile([r.first_text for r in records], 0.95):.2f} s; "
        f"turn to its end: p50 {_percentile([r.took for r in records], 0.5):.2f} s, "
        f"p95 {_percentile([r.took for r in records], 0.95):.2f} s, "
        f"max {max((r.took for r in records), default=0):.2f} s "
        f"(the fake streams each answer in {_streaming_time(LOAD):.1f} s); "
        f"longest wait between two events: {longest:.2f} s"
    )
    assert not failures, f"{failed} turns failed:\n" + "\n".join(failures[:8])
    assert len(records) == TURNS
    # Both servers generated turns (the round robin), and every follower came back as
    # planned, mid-answer (it left before the last of the text), on both servers.
    assert {r.generated_by for r in records} == {"app1", "app2"}
    assert len(resumed) == sum(len(LEAVES[number % len(LEAVES)]) for number in range(TURNS))
    assert {leg.served_by for leg in resumed} == {"app1", "app2"}
    assert not quiet(balanced, "app1", "app2")
