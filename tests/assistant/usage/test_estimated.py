"""Every provider call is counted: a call that ends without the provider's usage (none
streamed, stopped, dropped, failed after tokens) gets estimated tokens in the ledger, marked
estimated, counted toward the budget and shown with ≈ on the usage page and in the CSV.
Real chat views and SDKs against the fake OpenAI-compatible server."""

from __future__ import annotations

import csv
import io

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from assistant import token_estimates
from assistant.models import Message, UsageRecord, UsageReservation
from tests.fakes.script import HttpError, Reply
from tests.support.chat import configure, read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]

SEND = "/assistant/messages/"
# About 1,000 tokens by the estimate: the budget below is spent by its input alone.
QUESTION = ("Summarise the quarterly figures for every region, please. " * 70)[:4_000]
ANSWER = "Revenue rose in every region; costs fell in two of them. " * 20
BUDGET = 1_000


@pytest.fixture
async def client(app_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


@pytest.fixture
async def manager(settings_manager) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(settings_manager)
    return client


@pytest.fixture
async def budget(settings) -> None:
    await sync_to_async(configure)(settings=settings, daily_token_budget=BUDGET)


async def _answer() -> Message:
    return await Message.objects.filter(role=Message.Role.ASSISTANT).aget()


async def _assert_counted_and_marked(client, manager, local_model, outcome: str) -> UsageRecord:
    """The one call's ledger row holds an estimate of what was sent and received, counts
    toward the budget (the next message is refused), and shows ≈ on the usage page and CSV."""
    row = await UsageRecord.objects.aget()
    answer = await _answer()
    assert row.estimated
    assert row.outcome == outcome
    assert row.input_tokens >= token_estimates.estimate_text(QUESTION)
    assert answer.content  # some of the answer arrived …
    assert row.output_tokens == token_estimates.estimate_text(answer.content)  # … and is counted

    refused = await client.post(SEND, {"message": "And the costs?", "model": local_model})
    assert refused.status_code == 429
    assert "Your daily token budget is used up" in refused.content.decode()

    page = (await manager.get(reverse("ai_settings:usage"))).content.decode()
    assert 'data-total="tokens"><span class="usage-estimated"' in page
    assert f"{row.input_tokens + row.output_tokens:,}</dd>" in page
    assert "1 call reported no usage" in page
    response = await manager.get(reverse("ai_settings:usage_csv"))
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    (line,) = csv.DictReader(io.StringIO(body))
    assert (line["estimated"], int(line["input_tokens"])) == ("≈", row.input_tokens)
    return row


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        pytest.param(Reply(text=ANSWER, chunk_size=40, report_usage=False), "ok", id="no-usage"),
        pytest.param(Reply(text=ANSWER, chunk_size=40, drop_after=6), "cut_off", id="dropped"),
        pytest.param(
            Reply(text=ANSWER, chunk_size=40, stream_error="The server had an error."),
            "unavailable",
            id="failed-after-tokens",
        ),
    ],
)
async def test_a_call_without_reported_usage_is_estimated_and_counted(
    client, manager, local_model, fake_openai, budget, reply, outcome
):
    fake_openai.script(reply)

    await read_events(await client.post(SEND, {"message": QUESTION, "model": local_model}))

    await _assert_counted_and_marked(client, manager, local_model, outcome)
    assert len(fake_openai.generation_requests()) == 1


async def test_a_stopped_answer_is_estimated_and_counted(
    client, manager, local_model, fake_openai, budget
):
    fake_openai.script(Reply(text=ANSWER * 5, chunk_size=5, delay=0.01))
    response = await client.post(SEND, {"message": QUESTION, "model": local_model})
    stream = aiter(response.streaming_content)
    seen = b""
    while seen.count(b"beforeend") < 10:
        seen += await anext(stream)
    answer = await _answer()

    stop = await client.post(f"/assistant/c/{answer.conversation_id}/messages/{answer.pk}/stop/")
    assert stop.status_code == 204
    [part async for part in stream]

    row = await _assert_counted_and_marked(client, manager, local_model, "stopped")
    assert row.output_tokens < token_estimates.estimate_text(ANSWER * 5)


async def test_a_call_the_provider_refused_counts_nothing(client, local_model, fake_openai, budget):
    """An HTTP error instead of a stream (here a bad key): the provider generated and bills
    nothing, so the row records the call with no tokens, and the budget is untouched."""
    fake_openai.script(HttpError(401, "Invalid API key."), Reply(text="Hello."))

    await read_events(await client.post(SEND, {"message": QUESTION, "model": local_model}))
    again = await client.post(SEND, {"message": QUESTION, "model": local_model})
    assert again.status_code == 200
    await read_events(again)

    refused, answered = [r async for r in UsageRecord.objects.order_by("id")]
    assert (refused.outcome, refused.estimated) == ("auth", False)
    assert (refused.input_tokens, refused.output_tokens, refused.cost) == (0, 0, None)
    assert (answered.outcome, answered.estimated) == ("ok", False)
    assert not await UsageReservation.objects.filter(settled_at__isnull=True).aexists()
