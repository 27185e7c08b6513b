"""Geometry of the results plot (numbers only; the markup is templates/plot.svg): two bar
panels (TTFT of one stream, total time per stream at 50 concurrent streams) and the
concurrency ramp (p95 TTFT by open streams, with the 1 s limit)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bench.concurrency import TTFT_LIMIT, Level

if TYPE_CHECKING:
    from bench.report import Results

WIDTH, HEIGHT = 960, 360
PANEL_WIDTH = WIDTH / 3
TOP, BOTTOM = 56, 290  # plot area of every panel
LEFT_PAD, RIGHT_PAD = 52, 14
COLORS = {"direct": "#7a7a7a", "ours-1": "#2563eb", "ours-4": "#0f9d8a", "litellm": "#e07b00"}
SHORT = {
    "direct": "(a) direct", "ours-1": "(b) ours ×1", "ours-4": "(c) ours ×4", "litellm": "LiteLLM",
}  # fmt: skip


def _nice_max(value: float) -> float:
    """A round axis end above `value` (1, 2 or 5 × a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _ticks(axis_max: float, x: float, scale: Callable[[float], float]) -> list[dict[str, Any]]:
    return [
        {"y": round(scale(axis_max * i / 4), 1), "x": x, "label": f"{axis_max * i / 4:g}"}
        for i in range(5)
    ]


Bar = tuple[str, float | None, float | None]  # path, median and p95 in seconds


def _bar_panel(index: int, title: str, bars: list[Bar]) -> dict[str, Any]:
    """bars: (path, median s, p95 s); drawn in ms."""
    x0 = index * PANEL_WIDTH
    values = [p95 or median or 0 for _, median, p95 in bars]
    axis_max = _nice_max(max(values, default=0) * 1000 * 1.05)

    def scale(ms: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * ms / axis_max

    inner = PANEL_WIDTH - LEFT_PAD - RIGHT_PAD
    slot = inner / max(1, len(bars))
    drawn = []
    for number, (path, median, p95) in enumerate(bars):
        if median is None:
            continue
        top = scale(median * 1000)
        whisker = scale((p95 or median) * 1000)
        x = x0 + LEFT_PAD + number * slot + slot * 0.18
        drawn.append(
            {
                "x": round(x, 1),
                "y": round(top, 1),
                "width": round(slot * 0.64, 1),
                "height": round(BOTTOM - top, 1),
                "center": round(x + slot * 0.32, 1),
                "whisker": round(whisker, 1),
                "label_y": round(min(top, whisker), 1),
                "color": COLORS[path],
                "label": SHORT[path],
                "value": f"{median * 1000:.1f}" if median < 0.1 else f"{median * 1000:.0f}",
            }
        )
    return {
        "title": title,
        "x": x0,
        "axis_x": x0 + LEFT_PAD,
        "axis_right": x0 + PANEL_WIDTH - RIGHT_PAD,
        "ticks": _ticks(axis_max, x0 + LEFT_PAD - 6, scale),
        "bars": drawn,
    }


def _ramp_panel(levels: Sequence[Level]) -> dict[str, Any] | None:
    if not levels:
        return None
    x0 = 2 * PANEL_WIDTH
    max_streams = max(level.streams for level in levels)
    p95s = [(level.streams, level.ttft_p95) for level in levels if level.ttft_p95 is not None]
    axis_max = _nice_max(max([TTFT_LIMIT * 1.2] + [p for _, p in p95s]))
    x_max = _nice_max(max_streams)
    inner = PANEL_WIDTH - LEFT_PAD - RIGHT_PAD

    def sx(streams: float) -> float:
        return x0 + LEFT_PAD + inner * streams / x_max

    def sy(seconds: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * seconds / axis_max

    points = [
        {"x": round(sx(n), 1), "y": round(sy(p), 1), "passed": p <= TTFT_LIMIT} for n, p in p95s
    ]
    return {
        "title": "p95 TTFT (s) by streams open, 1 worker",
        "x": x0,
        "axis_x": x0 + LEFT_PAD,
        "axis_right": x0 + PANEL_WIDTH - RIGHT_PAD,
        "ticks": _ticks(axis_max, x0 + LEFT_PAD - 6, sy),
        "x_ticks": [
            {"x": round(sx(x_max * i / 4), 1), "label": f"{x_max * i / 4:g}"} for i in range(5)
        ],
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "limit_y": round(sy(TTFT_LIMIT), 1),
    }


def figure(results: Results) -> dict[str, Any]:
    burst = results.plan.burst
    order = ["direct", "ours-1", "ours-4", "litellm"]
    single = [s for path in order if (s := results.get(path, 1))]
    many = [s for path in order if (s := results.get(path, burst))]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bottom": BOTTOM,
        "panels": [
            _bar_panel(
                0,
                "TTFT, 1 stream (ms; bar median, tick p95)",
                [(s.path, s.ttft_median, s.ttft_p95) for s in single],
            ),
            _bar_panel(
                1,
                f"Total per stream, {burst} at once (ms)",
                [(s.path, s.total_median, s.total_p95) for s in many],
            ),
        ],
        "ramp": _ramp_panel(results.ramp),
        "date": results.machine.date if results.machine else "",
        "machine": (
            f"{results.machine.cores} cores, {results.machine.memory_gib:.0f} GiB"
            if results.machine
            else ""
        ),
    }
