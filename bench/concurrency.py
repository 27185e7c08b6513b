"""How many streams one worker holds open at once before p95 time to first token passes 1 s,
and the worker's memory per open stream.

Each level starts N streams at a steady arrival rate against a slow upstream (a chunk every
`upstream_delay` seconds, so every stream is still open when the last one starts), holds them
all open for a moment while the worker's memory is read from /proc, then closes them (the
client disconnects and presses Stop: the turn would outlive its stream). Levels grow until p95 TTFT
passes the limit, a stream fails, or the levels run out.

A third of each level's streams are followers (`is_follower`): every third stream, instead of
posting a message, follows the turn of the message posted just before it (GET
/assistant/turns/<key>/, as a second tab would), so every second message has a follower. A
follower's times count from its message's POST, like that stream's own.

The slow upstream waits `upstream_delay` before its first chunk too: that wait is the
provider's, not ours, and is taken off every TTFT of the ramp.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import stats
from bench.processes import rss_bytes
from bench.streams import Sample

TTFT_LIMIT = 1.0
HOLD_SECONDS = 2.0
LEVEL_TIMEOUT = 120.0

# Opens stream `index` of a level (a follower where is_follower(index)); returns its sample
# when the stream ends or `release` is set.
Opener = Callable[[int, asyncio.Event, Callable[[], None]], Awaitable[Sample]]


def is_follower(index: int) -> bool:
    """Stream `index` of a level follows the turn of stream `index - 1` (a message)."""
    return index % 3 == 2


def messages_in(streams: int) -> int:
    """The messages a level of `streams` open streams posts (the others follow them)."""
    return sum(not is_follower(index) for index in range(streams))


@dataclass
class Level:
    streams: int
    upstream_delay: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    peak_open: int = 0
    rss_idle: int = 0  # bytes, the worker before the first level
    rss_peak: int = 0
    threads_peak: int = 0
    fill_seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        return [s.error or "no text" for s in self.samples if not s.ok]

    @property
    def followers(self) -> int:
        return self.streams - messages_in(self.streams)

    def ttfts(self, *, followers_only: bool = False) -> list[float]:
        """Each stream's TTFT less the upstream's own wait before its first chunk."""
        return [
            max(0.0, s.ttft - self.upstream_delay)
            for index, s in enumerate(self.samples)
            if s.ok and s.ttft is not None and (is_follower(index) or not followers_only)
        ]

    @property
    def follower_ttft_p95(self) -> float | None:
        return stats.p95(self.ttfts(followers_only=True))

    @property
    def ttft_p95(self) -> float | None:
        return stats.p95(self.ttfts())

    @property
    def ttft_median(self) -> float | None:
        return stats.median(self.ttfts())

    @property
    def passed(self) -> bool:
        p95 = self.ttft_p95
        return not self.errors and p95 is not None and p95 <= TTFT_LIMIT

    @property
    def bytes_per_stream(self) -> float | None:
        if not self.peak_open:
            return None
        return max(0, self.rss_peak - self.rss_idle) / self.peak_open


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


async def run_level(level: Level, open_stream: Opener, *, rate: float, pid: int) -> None:
    release = asyncio.Event()
    state = {"open": 0, "first": 0}

    def first_token() -> None:
        state["first"] += 1

    async def one(index: int) -> Sample:
        await asyncio.sleep(index / rate)
        state["open"] += 1
        level.peak_open = max(level.peak_open, state["open"])
        try:
            return await open_stream(index, release, first_token)
        finally:
            state["open"] -= 1

    async def watch() -> None:
        started = time.perf_counter()
        deadline = started + LEVEL_TIMEOUT
        while time.perf_counter() < deadline:
            level.rss_peak = max(level.rss_peak, rss_bytes(pid))
            level.threads_peak = max(level.threads_peak, _threads(pid))
            if state["first"] >= level.streams or (
                time.perf_counter() - started > level.streams / rate and state["open"] == 0
            ):
                break
            await asyncio.sleep(0.2)
        level.fill_seconds = time.perf_counter() - started
        hold_until = time.perf_counter() + HOLD_SECONDS
        while time.perf_counter() < hold_until:
            level.rss_peak = max(level.rss_peak, rss_bytes(pid))
            level.threads_peak = max(level.threads_peak, _threads(pid))
            await asyncio.sleep(0.2)
        release.set()

    watcher = asyncio.create_task(watch())
    level.samples = list(await asyncio.gather(*(one(i) for i in range(level.streams))))
    release.set()
    await watcher


async def ramp(
    levels: Sequence[int],
    open_stream: Opener,
    *,
    rate: float,
    pid: int,
    upstream_delay: float,
    settle: float = 3.0,
) -> list[Level]:
    idle = rss_bytes(pid)
    done: list[Level] = []
    for streams in levels:
        level = Level(streams=streams, upstream_delay=upstream_delay, rss_idle=idle)
        await run_level(level, open_stream, rate=rate, pid=pid)
        done.append(level)
        p95 = level.ttft_p95
        print(
            f"  {streams:5d} streams ({level.followers} followers): p95 TTFT "
            f"{p95 * 1000 if p95 else float('nan'):7.0f} ms, peak open {level.peak_open}, "
            f"worker RSS {level.rss_peak / 2**20:.0f} MiB, {len(level.errors)} failed",
            flush=True,
        )
        if not level.passed:
            break
        await asyncio.sleep(settle)  # let the worker finish saving the closed streams
    return done


def best(levels: Sequence[Level]) -> Level | None:
    """The largest level that passed."""
    passed = [level for level in levels if level.passed]
    return max(passed, key=lambda level: level.streams) if passed else None
