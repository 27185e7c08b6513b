"""Followed streams on one worker: how soon a second page or tab that follows a turn
(GET /assistant/turns/<key>/) gets the turn's first text delta.

Each round posts one message, as bench.streams.chat_stream does, to an upstream that waits
`first_delay` before its first text chunk (so that the follower is connected before it comes).
As soon as the POST stream's first event names the turn's follow URL, a follower opens it with
the same session cookie; both read to the turn's end. Measured, per round:

- lag: the follower's first text delta after the POST stream's own (both read here);
- relay: the follower's (and the POST stream's) first text delta after the fake upstream
  handed its first chunk to its server. The fake runs in its own process on this machine and
  stamps that moment with time.time() (bench.upstream), the clock read here too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench import stats
from bench.streams import QUESTION, ChatTarget, Sample, chat_stream, follow_stream
from bench.upstream import tagged


@dataclass(frozen=True)
class FollowedRound:
    post: Sample
    follower: Sample
    upstream_first: float | None  # time.time() when the fake sent its first chunk

    @property
    def error(self) -> str:
        return self.post.error or self.follower.error or ("" if self.ok else "no text")

    @property
    def ok(self) -> bool:
        return self.post.ok and self.follower.ok

    @property
    def lag(self) -> float | None:
        if not self.ok or self.post.first_at is None or self.follower.first_at is None:
            return None
        return self.follower.first_at - self.post.first_at

    def _relay(self, sample: Sample) -> float | None:
        if not self.ok or sample.first_wall is None or self.upstream_first is None:
            return None
        return sample.first_wall - self.upstream_first

    @property
    def follower_relay(self) -> float | None:
        return self._relay(self.follower)

    @property
    def post_relay(self) -> float | None:
        return self._relay(self.post)

    @property
    def follower_was_early(self) -> bool:
        """The follower's response had started before the upstream's first chunk was sent."""
        opened, first = self.follower.opened_wall, self.upstream_first
        return opened is not None and first is not None and opened < first


@dataclass(frozen=True)
class Spread:
    median: float | None
    p95: float | None
    maximum: float | None

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(stats.median(values), stats.p95(values), max(values, default=None))


@dataclass
class FollowSeries:
    first_delay: float  # seconds the upstream waits before its first chunk
    chunks: int  # text chunks of each answer
    rounds: list[FollowedRound] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.rounds if not r.ok]

    @staticmethod
    def _present(values: list[float | None]) -> list[float]:
        return [value for value in values if value is not None]

    def lag(self) -> Spread:
        return Spread.of(self._present([r.lag for r in self.rounds]))

    def follower_relay(self) -> Spread:
        return Spread.of(self._present([r.follower_relay for r in self.rounds]))

    def post_relay(self) -> Spread:
        return Spread.of(self._present([r.post_relay for r in self.rounds]))

    @property
    def early(self) -> int:
        return sum(r.follower_was_early for r in self.rounds)

    @property
    def stamped(self) -> int:
        return sum(r.upstream_first is not None for r in self.rounds)


async def one_round(client: httpx.AsyncClient, target: ChatTarget) -> tuple[str, Sample, Sample]:
    """(the question's tag, the POST stream, its follower)."""
    tag = uuid.uuid4().hex
    follower: asyncio.Task[Sample] | None = None

    def open_follower(url: str) -> None:
        nonlocal follower
        follower = asyncio.create_task(follow_stream(client, target, url))

    post = await chat_stream(client, target, question=tagged(QUESTION, tag),
                             on_follow_url=open_follower)  # fmt: skip
    if follower is None:
        return tag, post, Sample(None, 0.0, 0, "follower: no follow URL in the first event")
    return tag, post, await follower


async def measure(
    client: httpx.AsyncClient,
    target: Callable[[], ChatTarget],
    upstream_url: str,
    *,
    rounds: int,
    warmups: int,
    first_delay: float,
    chunks: int,
) -> FollowSeries:
    """`rounds` followed streams one after another (after `warmups` not counted)."""
    series = FollowSeries(first_delay, chunks)
    done: list[tuple[str, Sample, Sample]] = []
    for number in range(warmups + rounds):
        result = await one_round(client, target())
        if number >= warmups:
            done.append(result)
    response = await client.get(upstream_url + "/bench/first-chunks")
    response.raise_for_status()
    stamps: dict[str, float] = response.json()
    series.rounds = [FollowedRound(post, follower, stamps.get(tag)) for tag, post, follower in done]
    return series
