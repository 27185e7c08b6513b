"""SQL queries and render time of the big pages, through Django's test client in the bench
process (the whole middleware stack and template rendering, no network)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import stats

REPEATS = 15
WARMUPS = 2


@dataclass(frozen=True)
class PageResult:
    name: str
    size: str
    url: str
    status: int
    queries: int
    median: float  # seconds
    p95: float
    bytes: int


def measure(client: Client, name: str, size: str, url: str, repeats: int = REPEATS) -> PageResult:
    for _ in range(WARMUPS):
        client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = len(captured)  # now: the next request's request_started resets the log
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - started)
    return PageResult(
        name=name,
        size=size,
        url=url,
        status=response.status_code,
        queries=queries,
        median=stats.median(times) or 0.0,
        p95=stats.p95(times) or 0.0,
        bytes=len(response.content),
    )
