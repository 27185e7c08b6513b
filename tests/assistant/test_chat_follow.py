"""A turn outlives the request that started it, and any page follows it: the answer goes on
when its request goes away, a follower (another page, tab or reload) gets the turn from its
start and then live, a follower that reconnects with Last-Event-ID gets the rest with no gap
and no duplicate, and a turn whose worker died ends as interrupted for its followers.

With Django's async test client, in one process: the embedded defaults' turn channel (in
memory). tests/config/test_turns_across_hosts.py runs the same across two hosts."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import AsyncClient
from django.utils import timezone

from assistant import turn_channel, turn_tasks
from assistant.models import Conversation, Message, UsageRecord, UsageReservation
from tests.fakes.script import Reply
from tests.support.chat import appended_text, parse_events, read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]

STORY = "Once upon a time " * 30
SLOW = Reply(text=STORY, chunk_size=6, delay=0.02)
TEXT_APPEND = b'-text" hx-swap="beforeend">'
ID_LINE = re.compile(r"^id: (\d+)$", re.MULTILINE)


@pytest.fixture
async def client(app_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


@pytest.fixture(autouse=True)
async def turns_end():
    """Every turn a test started has ended before its event loop closes."""
    yield
    await turn_tasks.wait_for_running()


async def start(client: AsyncClient, model: str, text: str = "Tell me a story", **data):
    """POST a message and read its stream up to the first text; the stream and the answer."""
    response = await client.post("/assistant/messages/", {"message": text, "model": model, **data})
    assert response.status_code == 200, response.content
    stream = aiter(response.streaming_content)
    seen = b""
    while TEXT_APPEND not in seen:
        seen += await anext(stream)
    answer = await Message.objects.aget(role="assistant")
    return stream, seen, answer


async def finished(answer: Message) -> Message:
    await turn_tasks.wait_for_running()
    await answer.arefresh_from_db()
    return answer


def event_ids(body: str) -> list[int]:
    return [int(found) for found in ID_LINE.findall(body)]


async def body_of(response) -> str:
    return b"".join([part async for part in response.streaming_content]).decode()


async def test_an_answer_goes_on_to_its_end_after_its_request_went_away(
    client, local_model, fake_openai
):
    fake_openai.script(SLOW)
    stream, _, answer = await start(client, local_model)
    await stream.aclose()  # the tab closed, or the user clicked to another page

    answer = await finished(answer)
    assert (answer.status, answer.content) == ("complete", STORY)
    record = await UsageRecord.objects.aget()
    assert (record.outcome, record.estimated) == ("ok", False)
    assert await UsageReservation.objects.filter(settled_at__isnull=True).acount() == 0


async def test_a_turn_whose_followers_all_left_keeps_its_reservation_until_it_ends(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text=STORY, chunk_size=6, delay=0.05))
    stream, _, answer = await start(client, local_model)
    await stream.aclose()
    await asyncio.sleep(0.3)

    assert await UsageReservation.objects.filter(settled_at__isnull=True).acount() == 1
    await finished(answer)
    assert await UsageReservation.objects.filter(settled_at__isnull=True).acount() == 0


async def test_a_page_opened_mid_answer_shows_the_turn_and_follows_it(
    client, local_model, fake_openai
):
    fake_openai.script(SLOW)
    stream, _, answer = await start(client, local_model)
    await stream.aclose()

    page = (await client.get(f"/assistant/c/{answer.conversation_id}/")).text
    assert f'id="turn-{answer.turn_key}"' in page
    assert f'hx-sse:connect="/assistant/turns/{answer.turn_key}/"' in page
    assert "chat-stop" in page

    followed = await client.get(f"/assistant/turns/{answer.turn_key}/")
    assert followed["Content-Type"].startswith("text/event-stream")
    body = await body_of(followed)
    events = parse_events(body)
    # From the turn's start: its reset empties what the page showed, then every delta.
    assert f'hx-target="#turn-{answer.turn_key}-messages" hx-swap="innerHTML settle:0"' in events[0]
    assert appended_text(events, answer.pk) == STORY
    assert "Once upon a time" in unescape(events[-1]) and "message-footer" in events[-1]
    assert event_ids(body) == list(range(1, len(events) + 1))
    assert body.endswith("event: done\ndata: \n\n")

    answer = await finished(answer)
    assert answer.status == "complete"
    page = (await client.get(f"/assistant/c/{answer.conversation_id}/")).text
    assert "hx-sse:connect" not in page  # nothing left to follow


async def test_two_followers_see_the_same_answer(client, local_model, fake_openai, app_user):
    fake_openai.script(SLOW)
    stream, _, answer = await start(client, local_model)
    second_tab = AsyncClient()
    await second_tab.aforce_login(app_user)
    url = f"/assistant/turns/{answer.turn_key}/"

    first, second = await asyncio.gather(
        body_of(await client.get(url)), body_of(await second_tab.get(url))
    )
    assert first == second
    assert appended_text(parse_events(first), answer.pk) == STORY
    rest = b"".join([part async for part in stream]).decode()
    assert appended_text(parse_events(rest), answer.pk) in STORY


async def test_a_follower_that_reconnects_gets_the_rest_with_no_gap_and_no_duplicate(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text=STORY, chunk_size=6, delay=0.03))
    stream, _, answer = await start(client, local_model)
    await stream.aclose()
    url = f"/assistant/turns/{answer.turn_key}/"

    response = await client.get(url)
    part = aiter(response.streaming_content)
    before = b""
    while before.count(TEXT_APPEND) < 3:
        before += await anext(part)
    await part.aclose()  # the connection drops
    before_text = before.decode()
    last_id = event_ids(before_text)[-1]
    before_events = parse_events(before_text)[: len(event_ids(before_text))]

    after = await body_of(await client.get(url, headers={"Last-Event-ID": str(last_id)}))

    assert event_ids(after)[0] == last_id + 1
    assert event_ids(after) == list(range(last_id + 1, last_id + 1 + len(event_ids(after))))
    text = appended_text(before_events, answer.pk) + appended_text(parse_events(after), answer.pk)
    assert text == STORY


def on_another_worker(user, work):
    """`work(client)` on an event loop of its own, in another thread: to the turn channel a
    worker of its own, whose followers read the channel (the worker running a turn gives its
    own followers the events it published, assistant.local_turns)."""

    async def run():
        client = AsyncClient()
        await client.aforce_login(user)
        try:
            return await work(client)
        finally:
            await turn_channel.close_channel()

    return asyncio.to_thread(lambda: asyncio.run(run()))


async def test_a_follower_on_another_worker_sees_the_same_answer(
    client, local_model, fake_openai, app_user
):
    fake_openai.script(SLOW)
    stream, _, answer = await start(client, local_model)
    url = f"/assistant/turns/{answer.turn_key}/"

    async def follow(other_client):
        return await body_of(await other_client.get(url))

    here, there = await asyncio.gather(
        body_of(await client.get(url)), on_another_worker(app_user, follow)
    )
    assert here == there
    assert appended_text(parse_events(there), answer.pk) == STORY
    await stream.aclose()


async def test_a_follower_that_reconnects_to_another_worker_gets_the_rest_with_no_gap(
    client, local_model, fake_openai, app_user
):
    fake_openai.script(Reply(text=STORY, chunk_size=6, delay=0.03))
    stream, before, answer = await start(client, local_model)
    while before.count(TEXT_APPEND) < 3:
        before += await anext(stream)
    await stream.aclose()  # the connection to this worker drops
    before_text = before.decode()
    last_id = event_ids(before_text)[-1]
    before_events = parse_events(before_text)[1:]  # after the question and the turn's place
    url = f"/assistant/turns/{answer.turn_key}/"

    async def reconnect(other_client):
        return await body_of(await other_client.get(url, headers={"Last-Event-ID": str(last_id)}))

    after = await on_another_worker(app_user, reconnect)

    assert event_ids(after) == list(range(last_id + 1, last_id + 1 + len(event_ids(after))))
    text = appended_text(before_events, answer.pk) + appended_text(parse_events(after), answer.pk)
    assert text == STORY


async def test_a_finished_turn_followed_later_is_replayed_to_its_end(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text="Short answer."))
    response = await client.post("/assistant/messages/", {"message": "Hi", "model": local_model})
    await read_events(response)
    answer = await finished(await Message.objects.aget(role="assistant"))

    body = await body_of(await client.get(f"/assistant/turns/{answer.turn_key}/"))
    assert "Short answer." in unescape(body)
    assert body.endswith("event: done\ndata: \n\n")


async def test_stop_from_a_follower_ends_the_turn_for_every_follower(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text=STORY * 3, chunk_size=4, delay=0.05))
    stream, _, answer = await start(client, local_model)
    followed = await client.get(f"/assistant/turns/{answer.turn_key}/")

    stop = await client.post(f"/assistant/c/{answer.conversation_id}/messages/{answer.pk}/stop/")
    assert stop.status_code == 204

    assert "Stopped." in await body_of(followed)
    assert "Stopped." in b"".join([part async for part in stream]).decode()
    answer = await finished(answer)
    assert answer.status == "stopped"
    assert 0 < len(answer.content) < len(STORY * 3)


async def test_another_users_turn_is_not_found(client, local_model, fake_openai, other_app_user):
    fake_openai.script(SLOW)
    stream, _, answer = await start(client, local_model)
    other = AsyncClient()
    await other.aforce_login(other_app_user)

    assert (await other.get(f"/assistant/turns/{answer.turn_key}/")).status_code == 404
    assert (await client.get("/assistant/turns/0123456789abcdef/")).status_code == 404
    await stream.aclose()


async def test_a_malformed_last_event_id_is_refused_with_its_reason(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text="Hi."))
    await read_events(
        await client.post("/assistant/messages/", {"message": "Hi", "model": local_model})
    )
    answer = await finished(await Message.objects.aget(role="assistant"))

    response = await client.get(
        f"/assistant/turns/{answer.turn_key}/", headers={"Last-Event-ID": "seven"}
    )
    assert response.status_code == 400
    assert "not an event id" in response.content.decode()


async def test_a_turn_the_channel_does_not_have_is_shown_as_stored(client, app_user):
    """A turn run by a worker without a shared channel (or whose events expired): the follower
    shows the answer as stored and, while it is still being written, tries again shortly."""
    conversation = await Conversation.objects.acreate(user=app_user)
    answer = await Message.objects.acreate(
        conversation=conversation,
        role="assistant",
        status="streaming",
        content="Written elsewhere so far",
        turn_key="f" * 32,
    )

    body = await body_of(await client.get(f"/assistant/turns/{answer.turn_key}/"))
    assert "Written elsewhere so far" in body
    assert 'hx-trigger="load delay:2s"' in body
    assert body.endswith("event: done\ndata: \n\n")

    await Message.objects.filter(pk=answer.pk).aupdate(status="complete")
    body = await body_of(await client.get(f"/assistant/turns/{answer.turn_key}/"))
    assert "Written elsewhere so far" in body and "delay:2s" not in body


async def test_a_turn_whose_worker_died_ends_as_interrupted_for_its_followers(
    client, app_user, settings
):
    """What a worker that died mid-turn leaves: the turn's first events in the channel, its
    answer "streaming" with its last progress save, and a heartbeat that stopped."""
    settings.TURN_HEARTBEAT_SECONDS = 0.2
    settings.TURN_STALE_AFTER = 1.0
    conversation = await Conversation.objects.acreate(user=app_user)
    key = "d" * 32
    answer = await Message.objects.acreate(
        conversation=conversation,
        role="assistant",
        status="streaming",
        content="Half an answer",
        turn_key=key,
        heartbeat_at=timezone.now() - timedelta(seconds=0.5),
    )
    await turn_channel.publish(key, f'<hx-partial hx-target="#turn-{key}-messages"></hx-partial>')

    body = await asyncio.wait_for(body_of(await client.get(f"/assistant/turns/{key}/")), 10)

    assert "Interrupted" in body and "Half an answer" in body
    assert body.endswith("event: done\ndata: \n\n")
    await answer.arefresh_from_db()
    assert (answer.status, answer.content) == ("interrupted", "Half an answer")


async def test_a_second_message_waits_for_the_answer_being_written(
    client, local_model, fake_openai
):
    fake_openai.script(SLOW)
    stream, _, answer = await start(client, local_model)

    response = await client.post(
        f"/assistant/c/{answer.conversation_id}/messages/",
        {"message": "And then?", "model": local_model},
    )
    assert response.status_code == 409
    assert "still being written in this conversation" in response.content.decode()
    await stream.aclose()
    await finished(answer)
    assert await Message.objects.acount() == 2  # nothing of the refused message was stored


async def test_a_user_has_at_most_three_answers_being_written(client, local_model, fake_openai):
    fake_openai.script(*[Reply(text=STORY, chunk_size=4, delay=0.05)] * 3, Reply(text="Room."))
    streams = []
    for number in range(3):
        response = await client.post(
            "/assistant/messages/", {"message": f"Story {number}", "model": local_model}
        )
        assert response.status_code == 200
        streams.append(aiter(response.streaming_content))
        await anext(streams[-1])  # the turn started

    refused = await client.post(
        "/assistant/messages/", {"message": "One more", "model": local_model}
    )
    assert refused.status_code == 429
    assert "You already have 3 answers being written" in refused.content.decode()
    assert await Conversation.objects.acount() == 3

    first = await Message.objects.filter(role="assistant").order_by("id").afirst()
    await client.post(f"/assistant/c/{first.conversation_id}/messages/{first.pk}/stop/")
    assert "Stopped." in b"".join([part async for part in streams.pop(0)]).decode()
    accepted = await client.post(
        "/assistant/messages/", {"message": "One more", "model": local_model}
    )
    assert accepted.status_code == 200
    assert "Room." in unescape("".join(await read_events(accepted)))
    for stream in streams:
        await stream.aclose()
