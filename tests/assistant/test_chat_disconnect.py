"""A browser that goes away mid-answer (tab closed, network lost, a click to another page)
loses nothing: the answer is written to its end without it. With a real uvicorn server, a
client reads part of the stream and hangs up."""

from __future__ import annotations

import time

from assistant.models import Message, UsageRecord
from tests.fakes.script import Reply
from tests.support.chat import add_local_provider
from tests.support.live_server import signed_in_http

LONG = Reply(text="word " * 400, chunk_size=5, delay=0.02)


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_an_answer_whose_client_disconnects_mid_stream_is_written_to_its_end(
    asgi_server, app_user, fake_openai
):
    key = add_local_provider(fake_openai)
    fake_openai.script(LONG)
    http = signed_in_http(asgi_server.url, app_user)
    try:
        with http.stream(
            "POST",
            "/assistant/messages/",
            data={"message": "Tell me a long story", "model": key},
            headers={"X-CSRFToken": http.cookies["csrftoken"], "HX-Request": "true"},
        ) as response:
            assert response.status_code == 200
            received = ""
            for text in response.iter_text():
                received += text
                if received.count("beforeend") > 15:
                    break  # the client hangs up here
    finally:
        http.close()

    assert Message.objects.get(role="assistant").status == "streaming"  # still being written
    answer = wait_for(
        lambda: Message.objects.filter(role="assistant").exclude(status="streaming").first(),
        timeout=30,
    )
    assert (answer.status, answer.content) == ("complete", LONG.text)
    assert wait_for(lambda: UsageRecord.objects.filter(outcome="ok").exists())
