"""A tool turn with reasoning, paused for approval and resumed: what the provider requires back
with its calls (Anthropic's signed thinking block, Gemini's thought signature) is stored with
the call and sent in the request after the approval, as in a turn that never paused."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from assistant.models import Message, ToolCall
from prompts.models import PromptCollection
from tests.fakes.script import Call, Reply
from tests.support.chat import configure, read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]

THOUGHT = "The user wants it gone; deleting needs approval."


async def approve_and_resume(client: AsyncClient) -> None:
    paused = await Message.objects.aget(status="awaiting_approval")
    call = await ToolCall.objects.aget(status="pending")
    await client.post(f"/assistant/tool-calls/{call.pk}/approve/", headers={"HX-Request": "true"})
    await read_events(await client.post(f"/assistant/messages/{paused.pk}/resume/"))


async def a_delete_with_reasoning(fake, client: AsyncClient, model: str) -> None:
    doomed = await PromptCollection.objects.acreate(name="Old stuff")
    delete = {"action": "delete", "collection": "prompts.promptcollection", "keys": [doomed.pk]}
    fake.script(
        Reply(reasoning=THOUGHT, tool_calls=[Call("items", delete, id="call_del")]),
        Reply(text="Deleted “Old stuff”."),
    )
    sent = await client.post("/assistant/messages/", {"message": "Delete it", "model": model})
    await read_events(sent)
    await approve_and_resume(client)
    assert not await PromptCollection.objects.filter(pk=doomed.pk).aexists()


@pytest.fixture
async def client(superuser) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(superuser)
    return client


async def test_anthropic_gets_its_signed_thinking_back_after_an_approval(
    client, fake_anthropic, settings
):
    await sync_to_async(configure)(settings=settings, fakes={"anthropic": fake_anthropic})

    await a_delete_with_reasoning(fake_anthropic, client, "anthropic:claude-haiku-4-5")

    after_approval = fake_anthropic.generation_requests()[-1].body["messages"]
    assistant = next(m for m in after_approval if m["role"] == "assistant")["content"]
    assert assistant[0] == {"type": "thinking", "thinking": THOUGHT, "signature": Reply().signature}
    assert assistant[1]["type"] == "tool_use" and assistant[1]["id"] == "call_del"


async def test_gemini_gets_its_thought_signature_back_after_an_approval(
    client, fake_gemini, settings
):
    await sync_to_async(configure)(settings=settings, fakes={"google": fake_gemini})

    await a_delete_with_reasoning(fake_gemini, client, "google:gemini-2.5-flash")

    after_approval = fake_gemini.generation_requests()[-1].body["contents"]
    model_parts = next(c for c in after_approval if c["role"] == "model")["parts"]
    call_part = next(p for p in model_parts if "functionCall" in p)
    assert call_part["thoughtSignature"] == Reply().signature
