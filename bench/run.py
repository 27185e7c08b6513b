"""`make bench` / `python -m bench [--peers] [--quick]`: the whole run, start to finish.

1. A bench database (bench.environment), seeded (bench.seed); the page measurements.
2. The fake upstream (200 chunks of 4 characters, no delay), our app under uvicorn with 1 and
   with 4 workers, and with --peers LiteLLM's proxy; streams by every path, interleaved round
   by round: (a) the openai SDK straight to the fake, (b) our chat endpoint on 1 worker,
   (c) the same on 4 workers, (peer) the openai SDK through LiteLLM.
3. Followed streams on one worker: each message's turn followed at once by a second
   request (GET /assistant/turns/<key>/, as another tab), against a fake that waits before
   its first chunk (bench.follow).
4. The concurrency ramp on one worker against a slow fake, a third of its streams followers.
5. A table on stdout, bench/RESULTS.md and bench/results.svg.
Every server is a subprocess on 127.0.0.1 that the run stops, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench import environment
from bench.machine import describe

if TYPE_CHECKING:  # imported where used, once Django is set up for the bench's settings
    from bench.concurrency import Level
    from bench.follow import FollowSeries
    from bench.processes import Server
    from bench.report import Results
    from bench.streams import ChatTarget, Sample

HERE = Path(__file__).resolve().parent

DIRECT, OURS_1, OURS_4, LITELLM = "direct", "ours-1", "ours-4", "litellm"
PATH_LABELS = {
    DIRECT: "(a) openai SDK → fake",
    OURS_1: "(b) our chat endpoint, 1 worker",
    OURS_4: "(c) our chat endpoint, 4 workers",
    LITELLM: "LiteLLM proxy (openai SDK → LiteLLM → fake)",
}


@dataclass(frozen=True)
class Plan:
    chunks: int = 200
    chunk_size: int = 4
    single_rounds: int = 40
    burst: int = 50
    burst_rounds: int = 6
    warmups: int = 5
    users: int = 200
    levels: tuple[int, ...] = (50, 100, 200, 300, 400, 500, 600, 800, 1000)
    arrival_rate: float = 25.0  # new streams per second during the ramp
    slow_chunks: int = 120
    slow_delay: float = 0.5  # seconds before each chunk of the held streams (the first too)
    follow_rounds: int = 20
    follow_warmups: int = 2
    follow_first_delay: float = 0.3  # before the first chunk only: the follower connects first
    follow_chunks: int = 40
    providers: int = 10
    models_each: int = 20
    chat_messages: int = 500
    ledger_rows: int = 100_000

    def streams_needed(self, servers: int) -> int:
        """Messages posted (each to a fresh conversation), at most."""
        single = (self.warmups + self.single_rounds) * servers
        bursts = (self.burst + self.burst * self.burst_rounds) * servers
        return single + bursts + self.follow_warmups + self.follow_rounds + sum(self.levels)

    def users_needed(self, running_limit: int) -> int:
        """Enough users, taken in turn, that none has more than `running_limit` answers being
        written at once (MAX_RUNNING_TURNS) while a ramp level holds its streams open."""
        from bench.concurrency import messages_in

        most = max((messages_in(streams) for streams in self.levels), default=0)
        return max(self.users, math.ceil(most / running_limit))


QUICK = Plan(
    single_rounds=10, burst_rounds=2, users=60, levels=(50, 100, 200), slow_chunks=40,
    follow_rounds=10, ledger_rows=10_000,
)  # fmt: skip


@dataclass
class Slots:
    """Sessions and empty conversations to post to: each stream takes a fresh conversation,
    users taken in turn."""

    base_urls: dict[str, str]
    sessions: list[str]
    conversations: list[list[int]]
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def target(self, path: str, model_key: str) -> ChatTarget:
        from bench.streams import ChatTarget

        user = next(self._turn) % len(self.sessions)
        return ChatTarget(
            self.base_urls[path], self.sessions[user], self.conversations[user].pop(), model_key
        )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--peers", action="store_true", default=os.environ.get("PEERS") == "1",
                        help="also measure LiteLLM's proxy (installed on first use)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="fewer rounds and levels (a try-out)")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--plot", type=Path, default=HERE / "results.svg")
    return parser.parse_args()


def _step(message: str) -> Callable[[], None]:
    started = time.perf_counter()
    print(f"• {message}…", flush=True)

    def done() -> None:
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    return done


def main() -> None:
    args = _arguments()
    started = time.perf_counter()
    plan = QUICK if args.quick else Plan()
    machine = describe()
    env = environment.prepare()
    env.apply()
    environment.setup_django()
    try:
        results = _run(plan, env, peers=args.peers)
    finally:
        env.cleanup()
    from bench import report

    results.machine = machine
    results.database = env.database_label
    results.load_at_end = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    results.minutes = (time.perf_counter() - started) / 60
    print()
    print(report.table(results))
    report.write(results, args.results, args.plot)
    print(f"\nWrote {args.results} and {args.plot}.")


def _run(plan: Plan, env: environment.BenchEnvironment, *, peers: bool) -> Results:
    from django.core.management import call_command
    from django.test import Client

    from ai_settings.conf import app_settings
    from bench import pages, processes, seed
    from bench.report import Results

    results = Results(plan=plan, peers=peers)
    done = _step(f"Creating the bench database ({env.database_label})")
    call_command("migrate", verbosity=0)
    done()

    with ExitStack() as stack:
        done = _step("Starting the fake upstreams")
        fast = stack.enter_context(processes.fake_upstream(
            env.child_env(), chunks=plan.chunks, chunk_size=plan.chunk_size, delay=0.0,
            log_path=env.workdir / "fake.log"))  # fmt: skip
        slow = stack.enter_context(processes.fake_upstream(
            env.child_env(), chunks=plan.slow_chunks, chunk_size=plan.chunk_size,
            delay=plan.slow_delay, log_path=env.workdir / "slow-fake.log"))  # fmt: skip
        waiting = stack.enter_context(processes.fake_upstream(
            env.child_env(), chunks=plan.follow_chunks, chunk_size=plan.chunk_size, delay=0.0,
            first_delay=plan.follow_first_delay,
            log_path=env.workdir / "follow-fake.log"))  # fmt: skip
        done()

        results.running_limit = app_settings.MAX_RUNNING_TURNS
        results.users = plan.users_needed(results.running_limit)
        done = _step(
            f"Seeding: {plan.providers} providers × {plan.models_each} models, {results.users} "
            f"users, a {plan.chat_messages}-message conversation, {plan.ledger_rows:,} ledger rows"
        )
        seed.configure_ai()
        providers = seed.compatible_providers(
            plan.providers, plan.models_each, [fast.url + "/v1", slow.url + "/v1",
                                               waiting.url + "/v1"]
        )  # fmt: skip
        fast_model, slow_model = seed.model_key(providers[0]), seed.model_key(providers[1])
        follow_model = seed.model_key(providers[2])
        users = seed.app_users(results.users)
        sessions = [seed.session_for(user) for user in users]
        servers = 2
        per_user = math.ceil(plan.streams_needed(servers) / results.users) + 2
        conversations = seed.empty_conversations(users, per_user)
        admin = seed.superuser()
        long_chat = seed.long_conversation(admin, plan.chat_messages)
        seed.ledger(plan.ledger_rows, users)
        done()

        done = _step("Pages: SQL queries and render time")
        client = Client()
        client.force_login(admin)
        results.pages = [
            pages.measure(client, "Settings → AI",
                          f"{plan.providers} providers × {plan.models_each} models",
                          "/settings/ai/"),
            pages.measure(client, "Chat page", f"{plan.chat_messages} messages",
                          f"/assistant/c/{long_chat.pk}/"),
            pages.measure(client, "Usage page", f"{plan.ledger_rows:,} ledger rows",
                          "/settings/ai/usage/"),
        ]  # fmt: skip
        done()

        peer_note = " and LiteLLM" if peers else ""
        done = _step(f"Starting our app (1 worker and 4 workers){peer_note}")
        one = stack.enter_context(
            processes.our_app(env.child_env(), workers=1, log_path=env.workdir / "app-1.log")
        )
        four = stack.enter_context(
            processes.our_app(env.child_env(), workers=4, log_path=env.workdir / "app-4.log")
        )
        litellm: Server | None = None
        if peers:
            from bench.peers import litellm_proxy

            litellm = stack.enter_context(litellm_proxy(fast.url + "/v1", env.workdir))
        done()

        slots = Slots({OURS_1: one.url, OURS_4: four.url}, sessions, conversations)
        asyncio.run(_streams(plan, results, slots, fast.url, fast_model, litellm))

        four.stop()
        if litellm is not None:
            litellm.stop()
        done = _step(
            f"{plan.follow_rounds} followed streams on one worker (the first chunk after "
            f"{plan.follow_first_delay:g} s)"
        )
        results.followed = asyncio.run(_followed(plan, slots, follow_model, waiting.url))
        done()
        done = _step(
            f"Concurrency ramp on one worker ({plan.arrival_rate:.0f} new streams/s, a third "
            f"of them followers, a chunk every {plan.slow_delay:g} s)"
        )
        results.ramp = asyncio.run(_ramp(plan, slots, slow_model, one.worker_pids()[0]))
        done()
    return results


async def _streams(
    plan: Plan,
    results: Results,
    slots: Slots,
    fake_url: str,
    fast_model: str,
    litellm: Server | None,
) -> None:
    from bench import measure, streams
    from bench.peers import LITELLM_KEY, LITELLM_MODEL

    direct = streams.sdk_client(fake_url + "/v1")
    through_litellm = streams.sdk_client(litellm.url + "/v1", LITELLM_KEY) if litellm else None
    http = streams.chat_client()

    def maker(path: str) -> Callable[[int], Awaitable[Sample]]:
        if path == DIRECT:
            return lambda index: streams.sdk_stream(direct, "model-01")
        if path == LITELLM:
            assert through_litellm is not None  # LITELLM is among the paths only with it
            return lambda index: streams.sdk_stream(through_litellm, LITELLM_MODEL)
        return lambda index: streams.chat_stream(http, slots.target(path, fast_model))

    paths = [DIRECT, OURS_1, OURS_4] + ([LITELLM] if litellm else [])
    done = _step("Warming up every path")
    for path in paths:
        warm = measure.Series(path, plan.warmups)
        await measure.run_round(measure.Series(path, 1), maker(path))
        await measure.run_round(warm, maker(path))
        await measure.run_round(measure.Series(path, plan.burst), maker(path))
        if warm.errors:
            raise RuntimeError(f"{PATH_LABELS[path]} fails: {warm.errors[:3]}")
    done()

    for concurrency, rounds in ((1, plan.single_rounds), (plan.burst, plan.burst_rounds)):
        done = _step(f"{rounds} rounds of {concurrency} concurrent stream(s) by each path")
        series = {path: measure.Series(path, concurrency) for path in paths}
        for number in range(rounds):
            # A different order each round, so no path always follows the same one.
            shift = number % len(paths)
            for path in paths[shift:] + paths[:shift]:
                await measure.run_round(series[path], maker(path))
        results.series.extend(series.values())
        done()
    await http.aclose()
    await direct.close()
    if through_litellm is not None:
        await through_litellm.close()


async def _followed(plan: Plan, slots: Slots, model: str, upstream_url: str) -> FollowSeries:
    from bench import follow, streams

    http = streams.chat_client()
    try:
        return await follow.measure(
            http,
            lambda: slots.target(OURS_1, model),
            upstream_url,
            rounds=plan.follow_rounds,
            warmups=plan.follow_warmups,
            first_delay=plan.follow_first_delay,
            chunks=plan.follow_chunks,
        )
    finally:
        await http.aclose()


# A message of the ramp whose turn a follower takes: its target, follow URL and start.
Followed = tuple["ChatTarget", str, float]


async def _ramp(plan: Plan, slots: Slots, slow_model: str, pid: int) -> list[Level]:
    from bench import concurrency, streams

    http = streams.chat_client()
    loop = asyncio.get_running_loop()
    # Stream index -> its turn, for the follower at index + 1 (None: no turn to follow).
    turns: dict[int, asyncio.Future[Followed | None]] = {}

    async def follower(index: int, release: asyncio.Event, on_first: Callable[[], None]) -> Sample:
        followed = await turns.setdefault(index - 1, loop.create_future())
        del turns[index - 1]
        if followed is None:
            return streams.Sample(None, 0.0, 0, "follower: its message started no turn")
        target, url, since = followed
        return await streams.follow_stream(
            http, target, url, since=since, until=release, on_first=on_first
        )

    async def open_stream(
        index: int, release: asyncio.Event, on_first: Callable[[], None]
    ) -> Sample:
        if concurrency.is_follower(index):
            return await follower(index, release, on_first)
        target = slots.target(OURS_1, slow_model)
        if not concurrency.is_follower(index + 1):
            return await streams.chat_stream(http, target, until=release, on_first=on_first)
        turn = turns.get(index)
        if turn is None or turn.done():
            # (A settled one is from the level before, whose last message had no follower.)
            turn = turns[index] = loop.create_future()
        started = time.perf_counter()

        def followed(url: str) -> None:
            turn.set_result((target, url, started))

        try:
            return await streams.chat_stream(
                http, target, until=release, on_first=on_first, on_follow_url=followed
            )
        finally:
            if not turn.done():
                turn.set_result(None)

    try:
        return await concurrency.ramp(
            plan.levels,
            open_stream,
            rate=plan.arrival_rate,
            pid=pid,
            upstream_delay=plan.slow_delay,
        )
    finally:
        await http.aclose()
