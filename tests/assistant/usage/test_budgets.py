"""Budgets that hold: a message reserves the estimate of its own request (history, message,
attachments, tool specs) plus the model's max output before any provider call; a further call
of a tool turn is covered again before it is made. Real chat views, SDKs and fakes; concurrent
sends through a real ASGI server."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.test import AsyncClient

from ai_settings.catalog import CUSTOM_MAX_OUTPUT
from assistant import token_estimates, usage
from assistant.models import Conversation, Message, ToolCall, UsageRecord, UsageReservation
from prompts.models import PromptCollection
from tests.fakes.script import Call, HttpError, Reply
from tests.support.chat import add_local_provider, configure, read_events
from tests.support.live_server import browser_session

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "/assistant/messages/"
LARGE = ("Please review this contract clause by clause and flag every risk. " * 1_500)[:96_000]
READ_COLLECTIONS = Call("items", {"action": "read", "collection": "prompts.promptcollection"})


def test_twelve_parallel_large_messages_overshoot_the_budget_by_one_message_at_most(
    asgi_server, fake_openai, app_user, settings
):
    """The issue's case: 12 messages of 96,000 characters at once against 20,000 tokens a day.
    Each request runs in its own thread with its own database connection."""
    model = add_local_provider(fake_openai)  # max output: CUSTOM_MAX_OUTPUT
    configure(settings=settings, daily_token_budget=20_000)
    # What a provider would count for such a message; slow enough to be in flight together.
    fake_openai.default = Reply(
        text="Clause 4 is the risk.", chunk_size=3, delay=0.05, input_tokens=24_600,
        output_tokens=90,
    )  # fmt: skip
    cookies, headers = browser_session(asgi_server.url, app_user)

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=asgi_server.url, cookies=cookies, headers=headers, timeout=60
        ) as client:
            return await asyncio.gather(
                *(client.post(SEND, data={"message": LARGE, "model": model}) for _ in range(12))
            )

    responses = asyncio.run(send_all())

    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(answered) + len(refused) == 12
    assert len(answered) == 1  # its reservation (~40,000 tokens) holds the whole budget
    for response in refused:
        assert "daily token budget" in response.text
    # One message's estimate, at least: the message itself and the model's max output.
    one_message = token_estimates.estimate_text(LARGE) + CUSTOM_MAX_OUTPUT
    assert usage.tokens_used_today(app_user.pk) <= 20_000 + one_message
    assert len(fake_openai.generation_requests()) == len(answered)
    # A refused message left nothing behind; the admitted one released its reservation.
    assert Conversation.objects.count() == Message.objects.filter(role="user").count() == 1
    assert not UsageReservation.objects.filter(settled_at__isnull=True).exists()


@pytest.fixture
async def client(app_user, close_orm_thread_connections) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


async def _open_reservation() -> UsageReservation:
    return await UsageReservation.objects.aget(settled_at__isnull=True)


async def test_a_message_reserves_its_own_size_and_the_models_max_output(
    client, local_model, fake_openai, settings
):
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000_000)
    fake_openai.script(Reply(text="Done, at last.", chunk_size=2, delay=0.1))

    response = await client.post(SEND, {"message": LARGE, "model": local_model})

    reserved = (await _open_reservation()).tokens  # held while the answer streams
    assert reserved >= token_estimates.estimate_text(LARGE) + CUSTOM_MAX_OUTPUT
    assert reserved < token_estimates.estimate_text(LARGE) + CUSTOM_MAX_OUTPUT + 10_000
    await read_events(response)
    assert not await UsageReservation.objects.filter(settled_at__isnull=True).aexists()


async def test_a_refused_message_stores_nothing(client, local_model, fake_openai, settings):
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000)
    fake_openai.script(Reply(text="First.", input_tokens=900, output_tokens=200))
    await read_events(await client.post(SEND, {"message": "Hello", "model": local_model}))
    conversation = await Conversation.objects.aget()

    refused = await client.post(
        SEND, {"message": "Again", "model": local_model, "conversation": conversation.pk}
    )

    assert refused.status_code == 429
    assert "Your daily token budget is used up" in refused.content.decode()
    assert [m.content async for m in Message.objects.order_by("id")] == ["Hello", "First."]
    assert (await Conversation.objects.aget()).updated_at == conversation.updated_at
    assert await UsageReservation.objects.acount() == 1  # the first message's, settled
    assert len(fake_openai.generation_requests()) == 1


async def test_retry_reserves_the_estimate_of_its_own_request(
    client, local_model, fake_openai, settings
):
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000_000)
    fake_openai.script(HttpError(400), Reply(text="Here it is.", chunk_size=2, delay=0.1))
    await read_events(await client.post(SEND, {"message": LARGE, "model": local_model}))
    failed = await Message.objects.aget(role="assistant")

    response = await client.post("/assistant/retry/", {"message": failed.pk})

    assert response.status_code == 200
    reserved = (await _open_reservation()).tokens
    assert reserved >= token_estimates.estimate_text(LARGE) + CUSTOM_MAX_OUTPUT
    await read_events(response)
    assert (await Message.objects.aget(role="assistant")).content == "Here it is."


async def test_retry_refused_by_the_budget_keeps_the_failed_answer(
    client, local_model, fake_openai, settings
):
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000)
    fake_openai.script(Reply(text="Half an ans", input_tokens=900, output_tokens=200, drop_after=3))
    await read_events(await client.post(SEND, {"message": "Tell me", "model": local_model}))
    failed = await Message.objects.aget(role="assistant")

    response = await client.post("/assistant/retry/", {"message": failed.pk})

    assert response.status_code == 429
    assert "Your daily token budget is used up" in response.content.decode()
    assert [m.pk async for m in Message.objects.filter(role="assistant")] == [failed.pk]
    assert len(fake_openai.generation_requests()) == 1


@pytest.fixture
async def tools_client(client, app_user) -> AsyncClient:
    """May read prompt collections, as the items tool does for them."""

    def grant() -> None:
        app_user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="prompts", codename__endswith="promptcollection"
            )
        )

    await sync_to_async(grant)()
    return client


async def test_a_tool_turn_stops_before_the_call_the_budget_no_longer_covers(
    tools_client, local_model, fake_openai, settings
):
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000)
    await PromptCollection.objects.acreate(name="Marketing")
    fake_openai.script(
        Reply(text="Let me look.", tool_calls=[READ_COLLECTIONS], input_tokens=900,
              output_tokens=200),
        Reply(text="Never asked for."),
    )  # fmt: skip

    events = await read_events(
        await tools_client.post(SEND, {"message": "Collections?", "model": local_model})
    )

    assert len(fake_openai.generation_requests()) == 1  # the second call was not made
    step_one, step_two = [m async for m in Message.objects.filter(role="assistant").order_by("id")]
    assert (await ToolCall.objects.aget()).status == "done"  # the first step's call ran
    assert (step_one.status, step_two.status) == ("complete", "error")
    assert step_two.error_kind == "budget"
    assert step_two.error_message.startswith(
        "Stopped before the next step. Your daily token budget is used up; it resets at "
    )
    assert "Stopped before the next step. Your daily token budget is used up" in events[-1]
    assert await UsageRecord.objects.acount() == 1  # one call, one row
    assert not await UsageReservation.objects.filter(settled_at__isnull=True).aexists()


async def test_a_tool_turn_goes_on_while_the_budget_covers_each_call(
    tools_client, app_user, local_model, fake_openai, settings
):
    await sync_to_async(configure)(settings=settings, daily_token_budget=100_000)
    await PromptCollection.objects.acreate(name="Marketing")
    fake_openai.script(
        Reply(text="Let me look.", tool_calls=[READ_COLLECTIONS], input_tokens=900,
              output_tokens=200),
        Reply(text="One collection: Marketing.", input_tokens=1_200, output_tokens=50),
    )  # fmt: skip

    await read_events(
        await tools_client.post(SEND, {"message": "Collections?", "model": local_model})
    )

    assert len(fake_openai.generation_requests()) == 2
    assert [r.input_tokens async for r in UsageRecord.objects.order_by("id")] == [900, 1_200]
    used = await sync_to_async(usage.tokens_used_today)(app_user.pk)
    assert used == 900 + 200 + 1_200 + 50


async def test_resume_reserves_its_own_request_and_covers_the_call_after_the_tools(
    tools_client, local_model, fake_openai, settings
):
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000_000)
    doomed = await PromptCollection.objects.acreate(name="Old stuff")
    delete = Call(
        "items", {"action": "delete", "collection": "prompts.promptcollection", "keys": [doomed.pk]}
    )
    fake_openai.script(Reply(tool_calls=[delete]), Reply(text="Deleted.", delay=0.05))
    await read_events(await tools_client.post(SEND, {"message": LARGE, "model": local_model}))
    call = await ToolCall.objects.aget()
    await tools_client.post(f"/assistant/tool-calls/{call.pk}/approve/")

    response = await tools_client.post(f"/assistant/messages/{call.message_id}/resume/")

    assert response.status_code == 200
    reserved = (await _open_reservation()).tokens
    assert reserved >= token_estimates.estimate_text(LARGE) + CUSTOM_MAX_OUTPUT
    stream = aiter(response.streaming_content)
    seen = b""
    while b'-text" hx-swap="beforeend">' not in seen:  # the answer after the tool began
        seen += await anext(stream)
    # The call carries the tool's result too: the reservation grew to cover it.
    assert (await _open_reservation()).tokens > reserved
    [part async for part in stream]
    assert len(fake_openai.generation_requests()) == 2
    assert not await PromptCollection.objects.filter(pk=doomed.pk).aexists()
