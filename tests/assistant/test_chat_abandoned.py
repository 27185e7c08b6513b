"""An answer whose worker died mid-stream (a crash, a lost host) is not left "generating"
for ever: its heartbeat stops, its conversation shows it as interrupted with the text saved so
far (showing only reads), and the next message in that conversation stores it so. A live
answer keeps its heartbeat, also while the provider is silent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assistant.models import Conversation, Message
from tests.fakes.script import Reply
from tests.support.chat import LOCAL, LOCAL_MODEL, read_events

pytestmark = [
    pytest.mark.usefixtures("close_orm_thread_connections"),
    # The chat stores answers and heartbeats from worker threads: they must see committed rows.
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume"),
]


@pytest.fixture
async def client(app_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


async def _left_by_a_dead_worker(user, model_key: str) -> Message:
    """A conversation whose last answer is what a worker that crashed mid-stream leaves: still
    "streaming", its last progress save, and a heartbeat that stopped minutes ago."""
    conversation = await Conversation.objects.acreate(user=user, title="Trip", model_key=model_key)
    await Message.objects.acreate(conversation=conversation, role="user", content="Plan my trip")
    answer = await Message.objects.acreate(
        conversation=conversation,
        role="assistant",
        status="streaming",
        content="Day one: Lisbon",
        provider=LOCAL,
        model=LOCAL_MODEL,
    )
    long_ago = timezone.now() - timedelta(minutes=5)
    await Message.objects.filter(pk=answer.pk).aupdate(created_at=long_ago, heartbeat_at=long_ago)
    return answer


async def test_an_answer_left_streaming_by_a_dead_worker_shows_as_interrupted(
    client, app_user, local_model, fake_openai
):
    dead = await _left_by_a_dead_worker(app_user, local_model)

    page = (await client.get(f"/assistant/c/{dead.conversation_id}/")).text

    assert "Interrupted" in page
    assert "Day one: Lisbon" in page  # the partial answer is kept
    assert "chat-stop" not in page and ">Stop</button>" not in page
    assert "Generating…" not in page
    panel = (await client.get(f"/assistant/panel/?conversation={dead.conversation_id}")).text
    assert "Interrupted" in panel and "chat-stop" not in panel

    # The next message in that conversation streams as usual, with the partial answer as
    # history.
    fake_openai.script(Reply(text="Day two: Porto.", chunk_size=4))
    events = await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "And then?", "model": local_model, "conversation": dead.conversation_id},
        )
    )
    last = await Message.objects.alatest("id")
    assert (last.status, last.content) == ("complete", "Day two: Porto.")
    assert "Day two: Porto." in events[-1]
    sent = fake_openai.last_body["messages"]
    assert {"role": "assistant", "content": "Day one: Lisbon"} in sent
    await dead.arefresh_from_db()
    assert (dead.status, dead.content, dead.finish_reason) == (
        "interrupted", "Day one: Lisbon", "interrupted",
    )  # fmt: skip


def test_showing_a_dead_answer_as_interrupted_writes_nothing(app_user, local_model):
    dead = async_to_sync(_left_by_a_dead_worker)(app_user, local_model)
    stored = Message.objects.values().get(pk=dead.pk)
    client = Client()
    client.force_login(app_user)

    for url in (
        f"/assistant/c/{dead.conversation_id}/",
        f"/assistant/panel/?conversation={dead.conversation_id}",
    ):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url).content.decode()
        assert "Interrupted" in page and "Day one: Lisbon" in page
        assert "chat-stop" not in page
        assert queries.captured_queries  # the page's own reads, seen here
        assert [q["sql"] for q in queries if not q["sql"].startswith("SELECT")] == []

    assert Message.objects.values().get(pk=dead.pk) == stored
    assert stored["status"] == "streaming"


async def test_sending_into_a_conversation_stores_its_dead_answer_as_interrupted(
    client, app_user, local_model, fake_openai
):
    dead = await _left_by_a_dead_worker(app_user, local_model)
    fake_openai.script(Reply(text="Day two: Porto."))

    await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "And then?", "model": local_model, "conversation": dead.conversation_id},
        )
    )

    await dead.arefresh_from_db()
    assert (dead.status, dead.content) == ("interrupted", "Day one: Lisbon")
    assert {"role": "assistant", "content": "Day one: Lisbon"} in fake_openai.last_body["messages"]
    last = await Message.objects.alatest("id")
    assert (last.status, last.content) == ("complete", "Day two: Porto.")


async def test_a_live_answer_keeps_its_heartbeat_while_the_provider_is_silent(
    client, local_model, fake_openai, settings
):
    # Short intervals so the test need not wait 30 s; the provider stays silent for longer
    # than an answer may go without a heartbeat.
    settings.TURN_HEARTBEAT_SECONDS = 0.2
    settings.TURN_STALE_AFTER = 1.5
    fake_openai.script(Reply(text="Let me think… done.", chunk_size=4, stall_after=1, stall=3.5))
    response = await client.post("/assistant/messages/", {"message": "Hi", "model": local_model})
    stream = aiter(response.streaming_content)
    seen = b""
    while b'-text" hx-swap="beforeend">' not in seen:  # the first chunk, then silence
        seen += await anext(stream)
    answer = await Message.objects.aget(role="assistant")

    await asyncio.sleep(2.2)
    page = (await client.get(f"/assistant/c/{answer.conversation_id}/")).text

    await answer.arefresh_from_db()
    assert answer.status == "streaming"
    assert timezone.now() - answer.heartbeat_at < timedelta(seconds=1.5)
    assert "chat-stop" in page and "Interrupted" not in page
    rest = b"".join([part async for part in stream]).decode()
    await answer.arefresh_from_db()
    assert (answer.status, answer.content) == ("complete", "Let me think… done.")
    assert "Interrupted" not in rest
