"""`make demo`'s offline model on the sample bookshop: real tool calls through the chat, with
the user's permissions, an approval card for the change, and an answer saying what it can do
for anything else."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import AsyncClient

from ai_settings.models import CompatibleProvider
from assistant.models import Message, ToolCall
from config.demo_shop.models import Book
from tests.fakes.demo import demo_answer
from tests.support.chat import read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]


@pytest.fixture
def demo_model(fake_openai):
    call_command("setup_demo", base_url=fake_openai.base_url)
    fake_openai.responder = demo_answer
    yield f"compat-{CompatibleProvider.objects.get().pk}:demo-model"
    fake_openai.responder = None


async def client_for(user, *codenames: str) -> AsyncClient:
    def grant():
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="demo_shop", codename__in=codenames)
        )

    await sync_to_async(grant)()
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def last_answer() -> Message:
    return await Message.objects.filter(role="assistant").order_by("-id").afirst()


async def test_demo_model_lists_the_books_low_in_stock_with_tool_calls(app_user, demo_model):
    client = await client_for(app_user, "view_book", "view_author")
    await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "list the books low in stock", "model": demo_model},
        )
    )
    answer = await last_answer()
    assert answer.status == "complete"
    for title in ("Dune", "The Left Hand of Darkness", "Kindred"):
        assert title in answer.content
    assert "The Dispossessed" not in answer.content  # 7 in stock
    names = [c.name async for c in ToolCall.objects.order_by("id")]
    assert names == ["schema", "items"]


async def test_demo_model_raises_a_price_after_approval(app_user, demo_model):
    client = await client_for(app_user, "view_book", "change_book")
    await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "raise the price of Kindred to 13.50", "model": demo_model},
        )
    )
    paused = await last_answer()
    assert paused.status == "awaiting_approval"
    call = await ToolCall.objects.aget(status="pending")
    assert (await Book.objects.aget(title="Kindred")).price == Decimal("12.00")

    await client.post(f"/assistant/tool-calls/{call.pk}/approve/", headers={"HX-Request": "true"})
    await read_events(await client.post(f"/assistant/messages/{paused.pk}/resume/"))

    assert (await Book.objects.aget(title="Kindred")).price == Decimal("13.50")
    assert "now costs 13.50" in (await last_answer()).content


async def test_demo_model_reports_a_change_the_user_may_not_make(app_user, demo_model):
    client = await client_for(app_user, "view_book")
    await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "raise the price of Dune to 99", "model": demo_model},
        )
    )
    answer = await last_answer()
    assert "could not do that" in answer.content and "Permission denied" in answer.content
    assert (await Book.objects.aget(title="Dune")).price == Decimal("9.99")


async def test_demo_model_says_what_it_can_do_otherwise(app_user, demo_model):
    client = await client_for(app_user)
    await read_events(
        await client.post("/assistant/messages/", {"message": "hello", "model": demo_model})
    )
    answer = await last_answer()
    assert "list the books low in stock" in answer.content
    assert "raise the price of" in answer.content
