"""Where our worker's time goes while it streams: py-spy samples the one-worker app while the
bench sends it streams, and the collapsed stacks are summed per function.

    python -m bench.profile [--streams 200] [--concurrency 1] [--chunks 200 --delay 0]

Prints the functions with the most samples, by own time and by inclusive time, and keeps
the collapsed stacks (for flamegraph tools) and a speedscope file in --out.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from bench import environment

HERE = Path(__file__).resolve().parent


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def _frame_name(frame: str) -> str:
    # py-spy's raw format: "function (path/to/file.py:line)"; drop the line, shorten the path.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# Leaf frames of a thread or loop that waits (py-spy cannot tell these from work in C).
WAITING = (
    "Runner.run (", "Condition.wait (", "_worker (concurrent", "Thread._wait_for_tstate_lock (",
    "Event.wait (", "Queue.get (", "select (", "BaseSelectorEventLoop._run_once (",
)  # fmt: skip


def summarize(collapsed: Path, top: int = 30) -> str:
    """Own and inclusive time per function, over the samples where a thread was working."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";") if "(" in frame]
        if not frames or frames[-1].startswith(WAITING):
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    lines = [f"{total} samples of a working thread", "", "Own time:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    lines += ["", "Inclusive time:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="start the streams at this many per second instead of in rounds",
    )
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.0, help="upstream seconds per chunk")
    parser.add_argument("--out", type=Path, default=HERE / ".profile")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL (where CPU really goes)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = environment.prepare()
    env.apply()
    environment.setup_django()
    try:
        _profile(args, env)
    finally:
        env.cleanup()


def _profile(args: argparse.Namespace, env: environment.BenchEnvironment) -> None:
    from django.core.management import call_command

    from bench import processes, seed, streams

    call_command("migrate", verbosity=0)
    with ExitStack() as stack:
        fake = stack.enter_context(processes.fake_upstream(
            env.child_env(), chunks=args.chunks, chunk_size=4, delay=args.delay))  # fmt: skip
        seed.configure_ai()
        provider = seed.compatible_providers(1, 1, [fake.url + "/v1"])[0]
        # Enough users that none has more than MAX_RUNNING_TURNS answers being written at once.
        users = seed.app_users(max(50, args.streams // 2))
        sessions = [seed.session_for(user) for user in users]
        per_user = args.streams // len(users) + 3
        conversations = seed.empty_conversations(users, per_user)
        app = stack.enter_context(
            processes.our_app(env.child_env(), workers=1, log_path=env.workdir / "app.log")
        )
        model = seed.model_key(provider)
        turn = iter(range(10**9))

        def target() -> streams.ChatTarget:
            user = next(turn) % len(users)
            return streams.ChatTarget(app.url, sessions[user], conversations[user].pop(), model)

        async def send(count: int) -> list[streams.Sample]:
            client = streams.chat_client()
            samples = []

            async def later(index: int) -> streams.Sample:
                await asyncio.sleep(index / args.rate)
                return await streams.chat_stream(client, target())

            try:
                if args.rate:
                    return list(await asyncio.gather(*(later(i) for i in range(count))))
                for _ in range(count // args.concurrency):
                    samples += await asyncio.gather(
                        *(streams.chat_stream(client, target()) for _ in range(args.concurrency))
                    )
            finally:
                await client.aclose()
            return samples

        asyncio.run(send(10))  # warm up
        collapsed = args.out / "collapsed.txt"
        spy = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(app.worker_pids()[0]), "--rate", "1000",
             "--format", "raw", "--output", str(collapsed), "--nonblocking",
             *(["--gil"] if args.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(1.0)
        started = time.perf_counter()
        samples = asyncio.run(send(args.streams))
        elapsed = time.perf_counter() - started
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        _, errors = spy.communicate(timeout=60)
        if not collapsed.exists():
            raise SystemExit(f"py-spy wrote nothing: {errors.decode(errors='replace')[-500:]}")
        failed = sum(not s.ok for s in samples)
        ttft = sorted(s.ttft for s in samples if s.ok and s.ttft is not None)
        p95 = ttft[min(len(ttft) - 1, int(len(ttft) * 0.95))]
        print(f"{len(samples)} streams ({args.concurrency} at once) in {elapsed:.1f} s, "
              f"{failed} failed, TTFT median {ttft[len(ttft) // 2] * 1000:.1f} ms, "
              f"p95 {p95 * 1000:.1f} ms")  # fmt: skip
        summary = summarize(collapsed)
        (args.out / "summary.txt").write_text(summary)
        print(summary)


if __name__ == "__main__":
    main()
