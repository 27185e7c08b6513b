"""A question whose answer failed, and that the user did not retry, is a failed attempt: the
next question goes to the provider on its own, not glued to it. Checked on what the fake
provider received."""

from __future__ import annotations

import pytest
from django.test import AsyncClient

from assistant.models import Conversation, Message
from tests.fakes.script import HttpError, Reply
from tests.support.chat import read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]

# The SDK retries a 500 twice before the turn fails.
SERVER_ERROR = (HttpError(500),) * 3


@pytest.fixture
async def client(app_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


async def ask(client: AsyncClient, model: str, text: str) -> None:
    data = {"message": text, "model": model}
    conversation = await Conversation.objects.afirst()
    if conversation is not None:
        data["conversation"] = conversation.pk
    response = await client.post("/assistant/messages/", data)
    assert response.status_code == 200
    await read_events(response)


def sent(fake) -> list[tuple[str, str]]:
    """(role, text) of the conversation in the provider's last request, system prompt aside."""
    return [(m["role"], m["content"]) for m in fake.last_body["messages"] if m["role"] != "system"]


async def test_questions_whose_answers_failed_are_not_sent_with_the_next(
    client, local_model, fake_openai
):
    fake_openai.script(HttpError(429), *SERVER_ERROR, Reply(text="Fine."))

    await ask(client, local_model, "e429")
    await ask(client, local_model, "e500")
    await ask(client, local_model, "e200")

    assert sent(fake_openai) == [("user", "e200")]
    stored = [m.status async for m in Message.objects.filter(role="assistant").order_by("id")]
    assert stored == ["error", "error", "complete"]  # the failed attempts stay visible


async def test_an_answered_question_after_a_failed_one_keeps_the_whole_history(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text="Paris."), HttpError(429), Reply(text="About 2 million."))

    await ask(client, local_model, "Capital of France?")
    await ask(client, local_model, "And of Spain?")
    await ask(client, local_model, "How many people live in Paris?")

    assert sent(fake_openai) == [
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "How many people live in Paris?"),
    ]


async def test_a_failed_answer_with_some_text_keeps_its_question(client, local_model, fake_openai):
    fake_openai.script(
        Reply(text="The first part of an answer", chunk_size=4, drop_after=3), Reply(text="Ok.")
    )

    await ask(client, local_model, "Tell me a story")
    partial = await Message.objects.aget(role="assistant")
    assert partial.status == "error" and partial.content
    await ask(client, local_model, "Go on")

    assert sent(fake_openai) == [
        ("user", "Tell me a story"),
        ("assistant", partial.content),
        ("user", "Go on"),
    ]


async def test_retrying_a_failed_answer_sends_its_question_again(client, local_model, fake_openai):
    fake_openai.script(HttpError(429), Reply(text="Here it is."))
    await ask(client, local_model, "e429")
    failed = await Message.objects.aget(role="assistant")

    response = await client.post("/assistant/retry/", {"message": failed.pk, "model": local_model})
    assert response.status_code == 200
    await read_events(response)

    assert sent(fake_openai) == [("user", "e429")]
