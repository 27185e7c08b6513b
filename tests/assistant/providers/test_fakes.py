"""The fake provider servers as `make demo` and `make bench` use them: standalone, paced,
and serving many streams at once."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.providers import get_adapter
from assistant.providers.events import Finish, TextDelta
from tests.fakes.harness import Provider, of_type
from tests.fakes.script import Reply, demo_reply
from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def compatible(fake_openai) -> Provider:
    return Provider(kind="compatible", fake=fake_openai, model_id="llama3")


@pytest.fixture
def standalone_fake():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port),
         "--chunks", "5", "--chunk-size", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert "listening on" in process.stdout.readline()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_standalone_fake_openai_streams_the_configured_default_reply(standalone_fake):
    provider = Provider(kind="compatible", fake=None, model_id="demo")

    events = await provider.run(base_url=standalone_fake)

    deltas = of_type(events, TextDelta)
    assert len(deltas) == 5 and all(len(d.text) == 3 for d in deltas)
    assert events[-1] == Finish("stop")


def test_demo_reply_is_a_short_markdown_answer():
    reply = demo_reply()

    assert "## " in reply.text and "- **" in reply.text
    assert len(reply.text_chunks()) > 20


async def test_unscripted_requests_get_the_default_reply(compatible):
    compatible.fake.default = Reply(text="Default answer.", chunk_size=3)

    events = await compatible.run()

    assert "".join(e.text for e in of_type(events, TextDelta)) == "Default answer."


async def test_fake_serves_many_streams_at_once(compatible):
    compatible.fake.default = Reply(text="x" * 40, chunk_size=4, delay=0.01)

    results = await asyncio.gather(*(compatible.run() for _ in range(100)))

    assert all(len(of_type(events, TextDelta)) == 10 for events in results)
    assert all(events[-1] == Finish("stop") for events in results)
    assert len(compatible.generation_requests) == 100


async def test_consumer_stopping_early_closes_the_stream_cleanly(compatible):
    compatible.fake.script(Reply(text="A long answer nobody reads.", chunk_size=2, delay=0.05))
    stream = get_adapter(compatible.connection()).stream(compatible.request())

    first = await stream.__anext__()
    await stream.aclose()

    assert isinstance(first, TextDelta)
    compatible.fake.script(Reply(text="Next one."))
    events = await compatible.run()
    assert events[-1] == Finish("stop")


async def test_every_request_is_recorded_with_path_headers_and_body(compatible):
    compatible.fake.script(Reply(text="ok"))

    await compatible.run(compatible.request())

    recorded = compatible.fake.requests[-1]
    assert recorded.method == "POST"
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.body["model"] == "llama3"
