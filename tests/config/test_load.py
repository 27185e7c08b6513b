"""Load: 200 concurrent chat streams from 200 users through ONE uvicorn worker (a subprocess,
the production settings, its own database), against a fake provider that answers each user
with a token from that user's message. Every stream completes without an error, and no stream
carries another user's token. Prints p50/p95 time to first token and total time.

Run by `make test-load` (.ci/run: on PostgreSQL and Redis when DATABASE_URL/CACHE_URL are
set; otherwise an SQLite file and the local-memory cache).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Reply
from tests.support.app_servers import own_database, server_environment
from tests.support.live_server import free_port

pytestmark = pytest.mark.load

USERS = 200
ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r"tok-\d{3}-[0-9a-f]{8}")
TEXT_APPEND = b'-text" hx-swap="beforeend">'
CSRF = "k" * 32  # a CSRF cookie of our choosing, sent back in the header as the page does


class EchoingFake(FakeOpenAI):
    """Answers every chat completion with the token found in the user's last message."""

    async def chat_completions(self, request: Any) -> Any:
        body = json.loads(await request.body())
        question = next(m for m in reversed(body["messages"]) if m["role"] == "user")
        content = question["content"]
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content)
        token = TOKEN.search(content).group(0)
        reply = Reply(text=f"Answer for {token}: " + "steady words " * 12, chunk_size=8, delay=0.02)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self.sse(reply, self._chat_frames(reply, body.get("model", ""), include_usage))


# The server and its database ----------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A database of the load test's own."""
    with own_database(tmp_path, "load") as url:
        yield url


@dataclass
class Server:
    url: str
    model: str
    sessions: list[str]
    log: Path


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = server_environment(database_url)
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], check=True, **run)
    with EchoingFake() as fake:
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.support.load_seed", fake.base_url, str(USERS)],
            check=True,
            **run,
        )
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        port = free_port()
        log = tmp_path / "uvicorn.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "config.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--no-server-header",
                ],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_until_healthy(url, process, log)
                yield Server(url, seed["model"], seed["sessions"], log)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("uvicorn did not become healthy within 30 s")


# The streams ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    token: str
    status: int
    body: str
    ttft: float | None
    total: float
    error: str = ""


async def _one_stream(base_url: str, session: str, model: str, token: str) -> Stream:
    cookies = {"sessionid": session, "csrftoken": CSRF}
    started = time.perf_counter()
    first: float | None = None
    body = b""
    async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=120) as client:
        try:
            async with client.stream(
                "POST",
                "/assistant/messages/",
                data={"message": f"Please repeat {token} back to me.", "model": model},
                headers={"X-CSRFToken": CSRF, "HX-Request": "true"},
            ) as response:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if first is None and TEXT_APPEND in body:
                        first = time.perf_counter() - started
                status = response.status_code
        except httpx.HTTPError as error:
            return Stream(token, 0, body.decode(errors="replace"), first,
                          time.perf_counter() - started, repr(error))  # fmt: skip
    return Stream(
        token, status, body.decode(errors="replace"), first, time.perf_counter() - started
    )


async def _all_streams(server: Server) -> list[Stream]:
    tokens = [f"tok-{number:03d}-{secrets.token_hex(4)}" for number in range(USERS)]
    return await asyncio.gather(
        *(
            _one_stream(server.url, session, server.model, token)
            for session, token in zip(server.sessions, tokens, strict=True)
        )
    )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def test_200_concurrent_streams_through_one_worker_complete_and_stay_apart(server: Server):
    streams = asyncio.run(_all_streams(server))

    failures = []
    for stream in streams:
        tokens = set(TOKEN.findall(stream.body))
        if stream.error or stream.status != 200:
            failures.append(f"{stream.token}: {stream.status} {stream.error} {stream.body[:300]}")
        elif (
            f"Answer for {stream.token}" not in stream.body or "status-complete" not in stream.body
        ):
            failures.append(f"{stream.token}: incomplete answer …{stream.body[-500:]}")
        elif tokens != {stream.token}:
            failures.append(f"{stream.token}: carried other users' text {tokens - {stream.token}}")
    ttfts = [s.ttft for s in streams if s.ttft is not None]
    totals = [s.total for s in streams]
    database = "PostgreSQL" if "postgres" in os.environ.get("DATABASE_URL", "") else "SQLite"
    print(  # noqa: T201 (the load report; make test-load runs with -s)
        f"\nLoad: {USERS} concurrent chat streams, one uvicorn worker, {database}: "
        f"{USERS - len(failures)} complete, {len(failures)} failed.\n"
        f"  time to first token: p50 {statistics.median(ttfts) * 1000:.0f} ms, "
        f"p95 {_percentile(ttfts, 0.95) * 1000:.0f} ms\n"
        f"  total time:          p50 {statistics.median(totals) * 1000:.0f} ms, "
        f"p95 {_percentile(totals, 0.95) * 1000:.0f} ms"
    )
    log = server.log.read_text()
    errors = sorted(
        {line for line in log.splitlines() if re.match(r"^\w+(\.\w+)*(Error|Exception)\b", line)}
    )
    assert not failures, (
        f"{len(failures)} streams failed:\n"
        + "\n".join(failures[:5])
        + "\nserver errors:\n"
        + "\n".join(errors[:10])
    )
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
