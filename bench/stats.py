"""Medians and 95th percentiles of samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p95(values: Sequence[float]) -> float | None:
    """The nearest-rank 95th percentile: 95 % of the values are at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ratio(ours: float | None, base: float | None) -> float | None:
    if ours is None or not base:
        return None
    return ours / base
