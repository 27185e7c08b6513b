"""The run's results: the table printed at the end, bench/RESULTS.md and the SVG plot, both
rendered from templates in bench/templates/ (Django's template engine, standalone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.template import Context, Engine

from bench import concurrency, stats
from bench.follow import FollowSeries, Spread
from bench.measure import Series
from bench.pages import PageResult

TEMPLATES = Path(__file__).with_name("templates")
TTFT_ADDED_TARGET = 0.010
BURST_RATIO_TARGET = 1.3
OPEN_STREAMS_TARGET = 1000  # followers count (issue #17)
FOLLOWED_FIRST_DELTA_TARGET = 0.100  # after the provider sent it (issue #17)
QUERIES_TARGET = 15


@dataclass
class Results:
    plan: Any
    peers: bool
    machine: Any = None
    database: str = ""
    series: list[Series] = field(default_factory=list)
    pages: list[PageResult] = field(default_factory=list)
    ramp: list[concurrency.Level] = field(default_factory=list)
    followed: FollowSeries | None = None
    users: int = 0  # seeded (at least plan.users)
    running_limit: int = 0  # MAX_RUNNING_TURNS, that the users are enough for
    load_at_end: str = ""
    minutes: float = 0.0

    def get(self, path: str, concurrency: int) -> Series | None:
        return next(
            (s for s in self.series if s.path == path and s.concurrency == concurrency), None
        )


def _ms(seconds: float | None, digits: int = 1) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.{digits}f}"


def _kib(value: float | None) -> str:
    return "–" if value is None else f"{value / 1024:.0f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


@dataclass(frozen=True)
class Row:
    label: str
    streams: int
    ttft_median: str
    ttft_p95: str
    total_median: str
    total_p95: str
    wall: str
    ttft_added: str
    total_ratio: str
    failed: int


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run


@dataclass(frozen=True)
class SpreadRow:
    label: str
    count: int
    median: str
    p95: str
    maximum: str


def followed_rows(followed: FollowSeries) -> list[SpreadRow]:
    def row(label: str, spread: Spread, count: int) -> SpreadRow:
        return SpreadRow(label, count, _ms(spread.median), _ms(spread.p95), _ms(spread.maximum))

    good = len(followed.rounds) - len(followed.errors)
    rows = [row("follower's first delta after the POST stream's own", followed.lag(), good)]
    if followed.stamped:
        stamped = min(good, followed.stamped)
        rows += [
            row("follower's first delta after the fake sent its first chunk",
                followed.follower_relay(), stamped),
            row("POST stream's first delta after the fake sent its first chunk",
                followed.post_relay(), stamped),
        ]  # fmt: skip
    return rows


def stream_rows(results: Results) -> list[Row]:
    from bench.run import DIRECT, PATH_LABELS

    rows = []
    for concurrency_level in sorted({s.concurrency for s in results.series}):
        base = results.get(DIRECT, concurrency_level)
        for series in results.series:
            if series.concurrency != concurrency_level:
                continue
            added = ratio = None
            if series.path != DIRECT and base and series.ttft_median is not None:
                added = series.ttft_median - (base.ttft_median or 0)
                ratio = stats.ratio(series.total_median, base.total_median)
            rows.append(
                Row(
                    label=PATH_LABELS[series.path],
                    streams=concurrency_level,
                    ttft_median=_ms(series.ttft_median),
                    ttft_p95=_ms(series.ttft_p95),
                    total_median=_ms(series.total_median),
                    total_p95=_ms(series.total_p95),
                    wall=_ms(series.wall_median, 0),
                    ttft_added="" if series.path == DIRECT else f"{_ms(added)} ms",
                    total_ratio="" if series.path == DIRECT else _ratio(ratio),
                    failed=len(series.errors),
                )
            )
    return rows


def targets(results: Results) -> list[Target]:
    from bench.run import DIRECT, LITELLM, OURS_1, OURS_4

    found: list[Target] = []
    one_direct, one_ours = results.get(DIRECT, 1), results.get(OURS_1, 1)
    if one_direct and one_ours and one_ours.ttft_median is not None:
        added = one_ours.ttft_median - (one_direct.ttft_median or 0)
        measured = f"{added * 1000:.1f} ms"
        found.append(Target("TTFT added by our stack, 1 stream (median)", "≤ 10 ms", measured,
                            added <= TTFT_ADDED_TARGET))  # fmt: skip

    burst = results.plan.burst
    direct, ours = results.get(DIRECT, burst), results.get(OURS_1, burst)
    peer = results.get(LITELLM, burst)
    if direct and ours:
        ratio = stats.ratio(ours.total_median, direct.total_median)
        # Both deployments, each on its own line: one worker, and the four of (c).
        for workers, series in ((1, ours), (4, results.get(OURS_4, burst))):
            if series is None:
                continue
            measured_ratio = stats.ratio(series.total_median, direct.total_median)
            name = (f"Total time, {burst} concurrent streams, ours ({workers} worker"
                    f"{'s' if workers > 1 else ''}) ÷ direct (median per stream)")  # fmt: skip
            met = measured_ratio is not None and measured_ratio <= BURST_RATIO_TARGET
            found.append(Target(name, f"≤ {BURST_RATIO_TARGET}×", _ratio(measured_ratio), met))
        name = f"Overhead ratio at {burst} streams, ours vs LiteLLM"
        if peer:
            peer_ratio = stats.ratio(peer.total_median, direct.total_median)
            measured = f"{_ratio(ratio)} vs {_ratio(peer_ratio)}"
            better = None if ratio is None or peer_ratio is None else ratio < peer_ratio
            found.append(Target(name, "ours < LiteLLM", measured, better))
        else:
            measured = "not measured (make bench PEERS=1)"
            found.append(Target(name, "ours < LiteLLM", measured, None))

    if results.followed:
        found.append(_followed_target(results.followed))

    if results.ramp:
        top = concurrency.best(results.ramp)
        held = top.streams if top else 0
        # "N+": the last level tried passed (the levels ran out); else a larger one failed.
        measured = f"{held}+ (the largest level tried)" if top is results.ramp[-1] else str(held)
        found.append(Target("Streams held open by one worker (a third followers) with p95 "
                            "TTFT ≤ 1 s", f"≥ {OPEN_STREAMS_TARGET}", measured,
                            held >= OPEN_STREAMS_TARGET))  # fmt: skip

    found.extend(
        Target(f"SQL queries, {page.name} ({page.size})", f"≤ {QUERIES_TARGET}",
               str(page.queries), page.queries <= QUERIES_TARGET)
        for page in results.pages
        if page.name in ("Settings → AI", "Chat page")
    )  # fmt: skip
    return found


def _followed_target(followed: FollowSeries) -> Target:
    """The follower's first delta after the fake sent its first chunk (p95 of the rounds);
    without the fake's stamps, not measured."""
    name = "Followed stream: first delta within 100 ms"
    goal = f"≤ {FOLLOWED_FIRST_DELTA_TARGET * 1000:.0f} ms after the provider sent it"
    relay = followed.follower_relay()
    if relay.p95 is None:
        return Target(name, goal, "not measured (no stamps from the fake)", None)
    measured = f"p95 {_ms(relay.p95)} ms, max {_ms(relay.maximum)} ms"
    if followed.errors:
        measured += f", {len(followed.errors)} of {len(followed.rounds)} rounds failed"
    met = not followed.errors and relay.p95 <= FOLLOWED_FIRST_DELTA_TARGET
    return Target(name, goal, measured, met)


def failures(results: Results) -> list[str]:
    """What failed, per path and level: each distinct error with its count."""
    from collections import Counter

    from bench.run import PATH_LABELS

    found = []
    for series in results.series:
        for error, count in Counter(series.errors).most_common(3):
            where = f"{PATH_LABELS[series.path]}, {series.concurrency} at once"
            found.append(f"{where}: {count}× {error[:160]}")
    if results.followed:
        for error, count in Counter(results.followed.errors).most_common(3):
            found.append(f"followed streams: {count}× {error[:160]}")
    for level in results.ramp:
        for error, count in Counter(level.errors).most_common(3):
            found.append(f"ramp, {level.streams} streams: {count}× {error[:160]}")
    return found


def _mark(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "–"}[met]


def table(results: Results) -> str:
    """The plain-text summary printed at the end of the run."""
    lines = []
    header = (
        f"{'path':<46} {'streams':>7} {'TTFT med':>9} {'TTFT p95':>9} {'total med':>10} "
        f"{'total p95':>10} {'round':>7} {'TTFT added':>11} {'total ×':>8} {'failed':>6}"
    )
    lines += [header, "-" * len(header)]
    for row in stream_rows(results):
        lines.append(
            f"{row.label:<46} {row.streams:>7} {row.ttft_median:>9} {row.ttft_p95:>9} "
            f"{row.total_median:>10} {row.total_p95:>10} {row.wall:>7} {row.ttft_added:>11} "
            f"{row.total_ratio:>8} {row.failed:>6}"
        )
    lines.append("(times in ms; 'round' = first start to last end of a round, median)")
    if results.followed:
        followed = results.followed
        head = f"{'followed streams (ms)':<62} {'rounds':>6} {'median':>7} {'p95':>7} {'max':>7}"
        lines += ["", head]
        for spread in followed_rows(followed):
            lines.append(
                f"{spread.label:<62} {spread.count:>6} {spread.median:>7} {spread.p95:>7} "
                f"{spread.maximum:>7}"
            )
        lines.append(
            f"(followers connected before the fake's first chunk: {followed.early} of "
            f"{len(followed.rounds)}; failed rounds: {len(followed.errors)})"
        )
    if results.ramp:
        lines += [
            "",
            (
                f"{'open streams':>12} {'followers':>9} {'p95 TTFT':>9} {'median':>7} "
                f"{'fol. p95':>8} {'peak open':>9} {'RSS MiB':>8} {'KiB/stream':>10} "
                f"{'threads':>7} {'failed':>6}"
            ),
        ]
        for level in results.ramp:
            per = level.bytes_per_stream
            lines.append(
                f"{level.streams:>12} {level.followers:>9} {_ms(level.ttft_p95, 0):>9} "
                f"{_ms(level.ttft_median, 0):>7} {_ms(level.follower_ttft_p95, 0):>8} "
                f"{level.peak_open:>9} {level.rss_peak / 2**20:>8.0f} "
                f"{_kib(per):>10} {level.threads_peak:>7} "
                f"{len(level.errors):>6}"
            )
    if results.pages:
        lines += [
            "",
            f"{'page':<16} {'size':<28} {'queries':>7} {'median':>7} {'p95':>7} {'status':>6}",
        ]
        for page in results.pages:
            lines.append(
                f"{page.name:<16} {page.size:<28} {page.queries:>7} {page.median * 1000:>7.1f} "
                f"{page.p95 * 1000:>7.1f} {page.status:>6}"
            )
    if failures(results):
        lines += ["", "Failures:"] + [f"  {line}" for line in failures(results)]
    lines += ["", "Targets:"]
    for target in targets(results):
        mark = f"[{_mark(target.met):>6}]"
        lines.append(f"  {mark} {target.name}: {target.measured} (goal {target.goal})")
    return "\n".join(lines)


def write(results: Results, markdown_path: Path, plot_path: Path) -> None:
    from bench import plot

    svg_engine = Engine(dirs=[str(TEMPLATES)], autoescape=True)
    svg = svg_engine.get_template("plot.svg").render(Context(plot.figure(results)))
    plot_path.write_text(svg)
    text_engine = Engine(dirs=[str(TEMPLATES)], autoescape=False)
    context = {
        "results": results,
        "machine": results.machine,
        "plan": results.plan,
        "rows": stream_rows(results),
        "targets": [(t, _mark(t.met)) for t in targets(results)],
        "levels": [
            {
                "streams": level.streams,
                "followers": level.followers,
                "p95": _ms(level.ttft_p95, 0),
                "median": _ms(level.ttft_median, 0),
                "follower_p95": _ms(level.follower_ttft_p95, 0),
                "peak_open": level.peak_open,
                "rss": f"{level.rss_peak / 2**20:.0f}",
                "per_stream": _kib(level.bytes_per_stream),
                "threads": level.threads_peak,
                "failed": len(level.errors),
                "passed": level.passed,
            }
            for level in results.ramp
        ],
        "pages": [
            {"page": p, "median": f"{p.median * 1000:.1f}", "p95": f"{p.p95 * 1000:.1f}"}
            for p in results.pages
        ],
        "followed": results.followed,
        "running_limit": results.running_limit,
        "followed_rows": followed_rows(results.followed) if results.followed else [],
        "plot_name": plot_path.name,
        "failures": failures(results),
        "rss_idle": f"{results.ramp[0].rss_idle / 2**20:.0f}" if results.ramp else "–",
    }
    markdown_path.write_text(
        text_engine.get_template("results.md").render(Context(context, autoescape=False))
    )
