"""Usage controls seen from the chat: budgets, rate limits, group models and the ledger, with
the real chat views and provider SDKs talking to the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from assistant import usage
from assistant.models import Message, UsageRecord, UsageReservation
from tests.fakes.script import HttpError, Reply
from tests.support.chat import add_local_provider, configure, read_events
from tests.support.live_server import browser_session
from tests.support.usage import group_with_policy, ledger_row

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "/assistant/messages/"
# What the fake answers: 100 tokens per message.
HUNDRED_TOKENS = Reply(text="Here you are.", chunk_size=4, input_tokens=20, output_tokens=80)


def test_twenty_concurrent_messages_only_the_budgets_worth_reach_the_provider(
    asgi_server, fake_openai, app_user, settings
):
    """Real HTTP to uvicorn: each request runs in its own thread with its own database
    connection, as on a server with many workers."""
    model = add_local_provider(fake_openai)
    configure(settings=settings, daily_token_budget=500)  # five messages of 100 tokens
    # Slow answers: all twenty are in flight together. Each reserves its input and the
    # model's max output, more than the whole budget: they run one at a time.
    fake_openai.default = Reply(
        text="Here you are, in pieces.", chunk_size=2, delay=0.05, input_tokens=20, output_tokens=80
    )
    cookies, headers = browser_session(asgi_server.url, app_user)

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=asgi_server.url, cookies=cookies, headers=headers, timeout=60
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(SEND, data={"message": f"Question {n}", "model": model})
                    for n in range(20)
                )
            )

    responses = asyncio.run(send_all())

    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(answered) + len(refused) == 20
    assert 1 <= len(answered) <= 5
    assert len(fake_openai.generation_requests()) == len(answered)
    for response in refused:
        assert "daily token budget" in response.text
        assert int(response.headers["Retry-After"]) >= 1
    for response in answered:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert "Here you are" in response.text.replace("data: ", "").replace("\n", "")

    # Every call is in the ledger and no reservation is left behind.
    today = UsageRecord.objects.filter(created_at__gte=usage.day_start(timezone.now()))
    assert today.count() == len(answered)
    assert not UsageReservation.objects.filter(settled_at__isnull=True).exists()
    # Once the budget is spent, the next message is refused with the reset time.
    while usage.remaining_budget(app_user):
        with httpx.Client(base_url=asgi_server.url, cookies=cookies, headers=headers) as client:
            assert client.post(SEND, data={"message": "more", "model": model}).status_code == 200
    with httpx.Client(base_url=asgi_server.url, cookies=cookies, headers=headers) as client:
        response = client.post(SEND, data={"message": "one more", "model": model})
    assert response.status_code == 429
    assert "Your daily token budget is used up; it resets at 00:00 UTC (in " in response.text
    assert len(fake_openai.generation_requests()) == 5


@pytest.fixture
async def client(app_user) -> AsyncIterator[AsyncClient]:
    client = AsyncClient()
    await client.aforce_login(app_user)
    yield client
    await sync_to_async(connections.close_all)()  # the ORM's worker thread outlives the test


async def test_spent_budget_refuses_before_any_provider_call(
    client, app_user, fake_openai, settings
):
    model = await sync_to_async(add_local_provider)(fake_openai)
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000)
    await sync_to_async(ledger_row)(app_user, timezone.now(), input_tokens=600, output_tokens=400)

    response = await client.post(SEND, {"message": "Hi", "model": model})

    assert response.status_code == 429
    assert "Your daily token budget is used up; it resets at" in response.text
    assert fake_openai.generation_requests() == []


async def test_each_call_is_in_the_ledger_and_errors_release_the_reservation(
    client, app_user, fake_openai, settings
):
    model = await sync_to_async(add_local_provider)(
        fake_openai, input_price="0.5", output_price="2"
    )
    await sync_to_async(configure)(settings=settings, daily_token_budget=100_000)
    fake_openai.script(HUNDRED_TOKENS, HttpError(401, "bad key {key}"))

    await read_events(await client.post(SEND, {"message": "Hi", "model": model}))
    await read_events(await client.post(SEND, {"message": "Again", "model": model}))

    rows = [r async for r in UsageRecord.objects.order_by("id")]
    assert [(r.provider, r.model, r.outcome) for r in rows] == [
        ("Local LLM", "local-model", "ok"),
        ("Local LLM", "local-model", "auth"),
    ]
    assert (rows[0].input_tokens, rows[0].output_tokens) == (20, 80)
    assert rows[0].cost == Decimal("0.000170") and rows[1].cost is None
    assert rows[0].user_id == app_user.pk and rows[0].conversation_id is not None
    assert not await UsageReservation.objects.filter(settled_at__isnull=True).aexists()


async def test_restricted_group_sees_only_its_models_and_cannot_post_another(
    client, app_user, fake_openai, fake_anthropic, settings
):
    def set_up() -> str:
        local = add_local_provider(fake_openai)
        configure(settings=settings, fakes={"anthropic": fake_anthropic})
        group_with_policy("Interns", [app_user], models=[local])
        return local

    local = await sync_to_async(set_up)()

    page = await client.get(reverse("assistant:index"))
    assert f'value="{local}"' in page.text
    assert 'value="anthropic:claude-haiku-4-5"' not in page.text

    refused = await client.post(SEND, {"message": "Hi", "model": "anthropic:claude-haiku-4-5"})
    assert refused.status_code == 400
    assert "not available to you" in refused.text
    assert fake_anthropic.generation_requests() == []

    fake_openai.script(HUNDRED_TOKENS)
    allowed = await client.post(SEND, {"message": "Hi", "model": local})
    assert allowed.status_code == 200
    await read_events(allowed)
    assert len(fake_openai.generation_requests()) == 1


async def test_chat_shows_each_replys_tokens_and_the_budget_left(
    client, app_user, fake_openai, settings
):
    model = await sync_to_async(add_local_provider)(fake_openai)
    await sync_to_async(configure)(settings=settings, daily_token_budget=1_000)
    fake_openai.script(HUNDRED_TOKENS)

    events = await read_events(await client.post(SEND, {"message": "Hi", "model": model}))

    final = events[-1]  # the answer's final render, with the budget left
    assert "Here you are." in final
    assert "20 in · 80 out tokens" in final
    assert final.endswith(
        '<hx-partial hx-target="#chat-budget" hx-swap="outerHTML">'
        '<p id="chat-budget" class="chat-budget" aria-live="polite">900 tokens left today</p>'
        "</hx-partial>"
    )
    page = await client.get(reverse("assistant:index"))
    assert (
        '<p id="chat-budget" class="chat-budget" aria-live="polite">900 tokens left today</p>'
        in (page.text)
    )


async def test_no_budget_shows_no_tokens_left(client, fake_openai, settings):
    model = await sync_to_async(add_local_provider)(fake_openai)
    await sync_to_async(configure)(settings=settings, daily_token_budget=None)

    events = await read_events(await client.post(SEND, {"message": "Hi", "model": model}))
    page = await client.get(reverse("assistant:index"))

    hidden = '<p id="chat-budget" class="chat-budget" aria-live="polite" hidden></p>'
    assert hidden in events[-1]
    assert hidden in page.text
    assert "left today" not in page.text


def test_a_client_that_hangs_up_mid_answer_keeps_the_reservation_until_the_answer_ends(
    asgi_server, fake_openai, app_user, settings
):
    model = add_local_provider(fake_openai)
    configure(settings=settings, daily_token_budget=100_000)
    fake_openai.script(Reply(text="word " * 400, chunk_size=5, delay=0.02))
    cookies, headers = browser_session(asgi_server.url, app_user)

    with (
        httpx.Client(base_url=asgi_server.url, cookies=cookies, headers=headers) as client,
        client.stream("POST", SEND, data={"message": "A long story", "model": model}) as r,
    ):
        assert r.status_code == 200
        received = ""
        for text in r.iter_text():
            received += text
            if received.count("beforeend") > 10:
                break  # the client hangs up here

    # The answer goes on without anyone reading it, and its reservation with it.
    assert UsageReservation.objects.filter(settled_at__isnull=True).exists()
    assert Message.objects.get(role="assistant").status == "streaming"
    deadline = time.monotonic() + 20
    while UsageReservation.objects.filter(settled_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the reservation was not released"
        time.sleep(0.05)
    assert Message.objects.get(role="assistant").content == "word " * 400
    assert UsageRecord.objects.get().outcome == "ok"
