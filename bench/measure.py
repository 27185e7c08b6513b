"""Rounds of concurrent streams by one path, and what they add up to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench import stats
from bench.streams import Sample

StreamFactory = Callable[[int], Awaitable[Sample]]


@dataclass
class Series:
    """All streams of one path at one concurrency."""

    path: str
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)  # seconds per round, first start to last end

    @property
    def good(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def errors(self) -> list[str]:
        return [s.error or "no text" for s in self.samples if not s.ok]

    def ttft(self) -> list[float]:
        return [s.ttft for s in self.good if s.ttft is not None]

    def total(self) -> list[float]:
        return [s.total for s in self.good]

    @property
    def ttft_median(self) -> float | None:
        return stats.median(self.ttft())

    @property
    def ttft_p95(self) -> float | None:
        return stats.p95(self.ttft())

    @property
    def total_median(self) -> float | None:
        return stats.median(self.total())

    @property
    def total_p95(self) -> float | None:
        return stats.p95(self.total())

    @property
    def wall_median(self) -> float | None:
        return stats.median(self.walls)


async def run_round(series: Series, make: StreamFactory) -> None:
    """`series.concurrency` streams started together."""
    started = time.perf_counter()
    samples = await asyncio.gather(*(make(index) for index in range(series.concurrency)))
    series.walls.append(time.perf_counter() - started)
    series.samples.extend(samples)
