"""Geometry for a stacked bar chart (a value per day and series), drawn as SVG on the server.

This module only computes coordinates, labels and colours; the markup lives in the template
assistant/usage/usage_chart.svg. Colours are SVG presentation attributes (fill=""), which the
strict CSP allows, unlike style attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

# Distinguishable on white and for the common colour-vision deficiencies (Okabe–Ito based).
PALETTE = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f6a00", "#5d6270",
)  # fmt: skip

WIDTH = 900
HEIGHT = 340
LEFT, RIGHT, BOTTOM = 72, 16, 56
LEGEND_TOP, LEGEND_ROW, LEGEND_SWATCH = 8, 22, 12
CHAR_WIDTH = 7.2  # an estimate for 12px system-ui, to lay out the legend
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str  # tooltip and accessible name: "Jan 5 · OpenAI: 1,200 tokens"


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class LegendItem:
    x: float
    y: float
    fill: str
    text: str

    @property
    def text_x(self) -> float:
        return round(self.x + LEGEND_SWATCH + 6, 2)

    @property
    def text_y(self) -> float:
        return self.y + LEGEND_SWATCH - 1


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    segments: list[Segment]
    y_ticks: list[Label]
    x_labels: list[Label]
    legend: list[LegendItem]
    y_axis_label: Label
    x_axis_label: Label
    empty: bool


def nice_step(largest: float, ticks: int = 5) -> int:
    """A round step (1, 2 or 5 × 10^n) giving about `ticks` gridlines up to `largest`."""
    raw = max(largest, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return max(1, int(multiple * magnitude))
    return max(1, int(10 * magnitude))  # pragma: no cover (the loop always returns)


def compact(number: int) -> str:
    """1200 → "1.2k", 3000000 → "3M": short enough for an axis."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(number) >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(number)


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _legend(series: list[str], colours: dict[str, str]) -> tuple[list[LegendItem], float]:
    items, x, y = [], float(LEFT), float(LEGEND_TOP)
    for name in series:
        width = LEGEND_SWATCH + 6 + len(name) * CHAR_WIDTH + 18
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + LEGEND_ROW
        items.append(LegendItem(round(x, 2), y, colours[name], name))
        x += width
    return items, y + LEGEND_ROW + 8


def stacked_bars(
    days: list[date],
    series: list[str],
    values: dict[tuple[date, str], int],
    *,
    title: str,
    unit: str,
) -> Chart:
    """One bar per day, one stacked segment per series (in `series` order, bottom up)."""
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    legend, top = _legend(series, colours)
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    plot_height = bottom - top

    day_totals = [sum(values.get((day, name), 0) for name in series) for day in days]
    largest = max(day_totals, default=0)
    step = nice_step(largest)
    scale_top = max(step, math.ceil(largest / step) * step)

    def y_of(value: float) -> float:
        return round(bottom - value / scale_top * plot_height, 2)

    slot = (right - LEFT) / max(len(days), 1)
    bar_width = round(max(slot * 0.75, 1), 2)
    segments = []
    for index, day in enumerate(days):
        x = round(LEFT + index * slot + (slot - bar_width) / 2, 2)
        stacked = 0
        for name in series:
            value = values.get((day, name), 0)
            if value <= 0:
                continue
            y_top = y_of(stacked + value)
            segments.append(
                Segment(
                    x=x,
                    y=y_top,
                    width=bar_width,
                    height=round(y_of(stacked) - y_top, 2),
                    fill=colours[name],
                    title=f"{day_label(day)} · {name}: {value:,} {unit}",
                )
            )
            stacked += value

    y_ticks = [Label(LEFT - 8, y_of(v), compact(v)) for v in range(0, scale_top + 1, step)]
    every = max(1, math.ceil(len(days) / MAX_X_LABELS))
    x_labels = [
        Label(round(LEFT + (index + 0.5) * slot, 2), bottom + 18, day_label(day))
        for index, day in enumerate(days)
        if index % every == 0
    ]
    total = sum(day_totals)
    parts = [
        f"{name}: {sum(values.get((day, name), 0) for day in days):,} {unit}" for name in series
    ]
    span = f"from {long_date(days[0])} to {long_date(days[-1])}" if days else "for no days"
    description = (
        f"Stacked bars, one per day {span}, one colour per provider. Total {total:,} {unit}"
    )
    description += (". " + "; ".join(parts) + ".") if parts else "."
    if largest:
        busiest = days[day_totals.index(largest)]
        description += f" Busiest day: {day_label(busiest)} with {largest:,} {unit}."
    return Chart(
        title=title,
        description=description,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=top,
        right=right,
        bottom=bottom,
        segments=segments,
        y_ticks=y_ticks,
        x_labels=x_labels,
        legend=legend,
        y_axis_label=Label(18, round((top + bottom) / 2, 2), unit.capitalize()),
        x_axis_label=Label(round((LEFT + right) / 2, 2), HEIGHT - 8, "Day"),
        empty=total == 0,
    )
