"""Sending a message: the answer streams back as Server-Sent Events (read with Django's async
test client) from the real provider SDKs talking to the fake servers, and is stored."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from assistant.models import Conversation, Message, UsageRecord
from tests.fakes.script import HttpError, Reply
from tests.support.chat import (
    LOCAL,
    LOCAL_MODEL,
    appended_text,
    configure,
    parse_events,
    read_events,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]


@pytest.fixture
async def client(app_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


async def send(client: AsyncClient, **data):
    return await client.post("/assistant/messages/", data)


async def messages() -> list[Message]:
    return [m async for m in Message.objects.order_by("created_at", "id")]


async def test_answer_streams_in_pieces_and_is_stored_with_its_usage(
    client, local_model, fake_openai
):
    fake_openai.script(
        Reply(text="Hello **world**, nice day.", chunk_size=3, input_tokens=42, delay=0.02)
    )

    response = await send(client, message="Say hello", model=local_model)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = await read_events(response)
    question, answer = await messages()
    assert (question.role, question.content) == ("user", "Say hello")
    assert f'id="message-{question.pk}"' in events[0]
    assert f'id="message-{answer.pk}-text"' in events[0]
    chunks = [e for e in events if f'#message-{answer.pk}-text"' in e]
    assert len(chunks) > 3  # the answer grows in several steps
    assert appended_text(events, answer.pk) == "Hello **world**, nice day."
    assert "<strong>world</strong>" in events[-1]  # the final render replaces the raw text
    assert "42 in" in events[-1]
    assert answer.status == "complete"
    assert answer.content == "Hello **world**, nice day."
    assert (answer.provider, answer.model) == (LOCAL, LOCAL_MODEL)
    assert answer.input_tokens == 42 and answer.output_tokens > 0
    assert answer.finish_reason == "stop"
    assert answer.time_to_first_token_ms is not None and answer.total_time_ms is not None
    assert await UsageRecord.objects.filter(model=LOCAL_MODEL, input_tokens=42).aexists()


async def test_text_chunks_are_escaped_html(client, local_model, fake_openai):
    fake_openai.script(Reply(text="<script>alert(1)</script>", chunk_size=50))
    events = await read_events(await send(client, message="x", model=local_model))
    assert "<script>" not in "".join(events)
    assert "&lt;script&gt;" in "".join(events)


async def test_reasoning_streams_into_a_thinking_block(client, local_model, fake_openai):
    fake_openai.script(Reply(reasoning="Let me think about it.", text="Done.", chunk_size=5))
    events = await read_events(await send(client, message="Think", model=local_model))
    _, answer = await messages()
    assert appended_text(events, answer.pk, "reasoning") == "Let me think about it."
    assert answer.reasoning == "Let me think about it."
    assert '<details class="thinking"><summary>Thinking</summary>' in events[-1]


async def test_first_message_creates_a_titled_conversation_that_remembers_the_model(
    client, local_model, fake_openai
):
    events = await read_events(
        await send(client, message="  Plan my week\nplease ", model=local_model)
    )
    conversation = await Conversation.objects.aget()
    assert conversation.title == "Plan my week please"
    assert conversation.model_key == local_model
    assert f'value="{conversation.pk}"' in events[0]  # the next message goes to it
    page = await client.get(f"/assistant/c/{conversation.pk}/")
    assert f'<option value="{local_model}" data-attachments="true" selected>' in page.text


async def test_the_next_message_carries_the_history(client, local_model, fake_openai):
    fake_openai.script(Reply(text="Paris."), Reply(text="About 2 million."))
    await read_events(await send(client, message="Capital of France?", model=local_model))
    conversation = await Conversation.objects.aget()
    await read_events(
        await send(client, message="Population?", model=local_model, conversation=conversation.pk)
    )
    sent = fake_openai.last_body["messages"]
    assert sent[0]["role"] == "system"
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "Population?"),
    ]


async def test_the_system_prompt_names_the_user_and_the_page(client, local_model, fake_openai):
    await read_events(
        await send(client, message="Hi", model=local_model, page_url="/settings/ai/usage/")
    )
    system = fake_openai.last_body["messages"][0]["content"]
    assert "Ada" in system
    assert "/settings/ai/usage/" in system


async def test_empty_messages_are_ignored(client, local_model, fake_openai):
    response = await send(client, message="   \n ", model=local_model)
    assert response.status_code == 204
    assert await messages() == []
    assert fake_openai.generation_requests() == []


async def test_a_message_over_100000_characters_is_refused(client, local_model, fake_openai):
    response = await send(client, message="x" * 100_001, model=local_model)
    assert response.status_code == 400
    assert "100,001 characters long; the limit is 100,000" in response.text
    assert await messages() == []
    assert fake_openai.generation_requests() == []


async def test_a_model_that_is_not_allowed_is_refused_with_the_picker(
    client, local_model, fake_openai
):
    response = await send(client, message="Hi", model="openai:gpt-5")
    assert response.status_code == 400
    assert "That model is not available to you right now" in response.text
    assert 'id="chat-model-picker"' in response.text
    assert f'value="{local_model}"' in response.text
    assert await messages() == []
    assert fake_openai.generation_requests() == []


async def test_a_model_outside_the_users_group_subset_is_refused(
    client, local_model, fake_openai, app_user
):
    from django.contrib.auth.models import Group

    from ai_settings.models import GroupAIPolicy

    def restrict():
        group = Group.objects.create(name="Cheap models only")
        GroupAIPolicy.objects.create(group=group, allowed_models=["openai:gpt-5-nano"])
        app_user.groups.add(group)

    await sync_to_async(restrict)()
    response = await send(client, message="Hi", model=local_model)
    assert response.status_code == 400
    assert "not available to you" in response.text
    assert fake_openai.generation_requests() == []


async def test_the_rate_limit_refuses_before_any_provider_call(client, local_model, fake_openai):
    await sync_to_async(configure)(rate_limit_per_minute=1)
    await read_events(await send(client, message="one", model=local_model))
    response = await send(client, message="two", model=local_model)
    assert response.status_code == 429
    assert "You can send another message in" in response.text
    assert len(fake_openai.generation_requests()) == 1


async def test_a_prompt_from_the_active_collection_is_sent_with_its_instructions(
    client, local_model, fake_openai
):
    from prompts.models import Prompt, PromptCollection, PromptMessage

    def make_prompt():
        collection = PromptCollection.objects.create(name="Team")
        prompt = Prompt.objects.create(
            collection=collection,
            name="summarise",
            status=Prompt.Status.PUBLISHED,
            system_prompt="Answer as a {{ tone }} editor.",
        )
        PromptMessage.objects.create(prompt=prompt, role="user", text="Summarise {{ topic }}.")
        configure(prompts_collection=collection)

    await sync_to_async(make_prompt)()

    missing = await send(
        client, model=local_model, prompt="summarise", **{"prompt_var-tone": "calm"}
    )
    assert missing.status_code == 400
    assert "Missing value for variable “topic”" in missing.text

    response = await send(
        client,
        model=local_model,
        prompt="summarise",
        **{"prompt_var-tone": "calm", "prompt_var-topic": "the news"},
    )
    await read_events(response)
    sent = fake_openai.last_body["messages"]
    assert "Answer as a calm editor." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Summarise the news."}


# Errors ---------------------------------------------------------------------------------


ERRORS = [
    pytest.param(
        "anthropic", HttpError(401), "auth",
        "Anthropic rejected the API key — an administrator can update it in Settings → AI.",
        id="auth",
    ),
    pytest.param(
        # Told at once, not sat out by the SDK (which would then get an answer).
        "openai", (HttpError(429, retry_after="20"),),
        "rate_limit", "Rate limited by OpenAI; try again in 20 s.", id="rate-limit",
    ),
    pytest.param(
        "openai", HttpError(404), "not_found",
        "OpenAI does not offer the model “gpt-5-mini”", id="not-found",
    ),
    pytest.param(
        "anthropic", HttpError(400, "max_tokens is too large"), "bad_request",
        "max_tokens is too large", id="bad-request",
    ),
    pytest.param(
        "google", (HttpError(503),) * 3, "unavailable",
        "Google is unavailable right now; try again in a moment.", id="unavailable",
    ),
    pytest.param(
        "openai", Reply(text="Partial answer that stops", chunk_size=4, drop_after=2),
        "cut_off", "The connection to OpenAI was cut off mid-answer", id="connection-dropped",
    ),
]  # fmt: skip


@pytest.fixture
def fakes(request, fake_openai):
    """fake_openai plus the Anthropic and Gemini fakes, started only when a test needs them."""
    found = {"openai": fake_openai}
    for name, fixture in (("anthropic", "fake_anthropic"), ("google", "fake_gemini")):
        found[name] = request.getfixturevalue(fixture)
    return found


@pytest.mark.parametrize(("provider", "scripted", "kind", "readable"), ERRORS)
async def test_each_error_kind_is_shown_readably_with_retry_and_stored(
    client, fakes, settings, provider, scripted, kind, readable
):
    current = await sync_to_async(configure)(settings=settings, fakes={provider: fakes[provider]})
    [model] = [m for m in current.models if m.provider_key == provider]
    fakes[provider].script(*(scripted if isinstance(scripted, tuple) else (scripted,)))

    events = await read_events(await send(client, message="Hi", model=model.key))

    _, answer = await messages()
    assert answer.status == "error"
    assert answer.error_kind == kind
    assert readable in answer.error_message
    final = events[-1]
    assert readable.replace("“", "&ldquo;")[:20] in final or readable[:20] in final
    assert 'form="chat-retry-form"' in final and ">Retry</button>" in final
    for secret in ("sk-test-openai", "sk-ant-test", "AIzaTest", "Traceback"):
        assert secret not in "".join(events)
        assert secret not in answer.error_message
    assert await UsageRecord.objects.filter(outcome=kind).acount() == 1

    # The next message works.
    fakes[provider].script(Reply(text="Fine now."))
    conversation = await Conversation.objects.aget()
    await read_events(
        await send(client, message="Again", model=model.key, conversation=conversation.pk)
    )
    last = (await messages())[-1]
    assert (last.status, last.content) == ("complete", "Fine now.")


async def test_a_silent_model_times_out_with_a_readable_message(
    client, local_model, fake_openai, settings
):
    settings.PROVIDER_IDLE_TIMEOUT = 0.5
    fake_openai.script(Reply(text="Start of an answer", chunk_size=4, stall_after=1, stall=5))
    events = await read_events(await send(client, message="Hi", model=local_model))
    _, answer = await messages()
    assert (answer.status, answer.error_kind) == ("error", "timeout")
    assert answer.error_message == "The model stopped responding."
    assert answer.content == "Star"  # what came before the silence is kept
    assert "The model stopped responding." in events[-1]


async def test_retry_answers_the_question_again(client, local_model, fake_openai):
    fake_openai.script(HttpError(401), Reply(text="Second time lucky."))
    await read_events(await send(client, message="Hi", model=local_model))
    _, failed = await messages()

    events = await read_events(await client.post("/assistant/retry/", {"message": failed.pk}))

    assert f'hx-target="#message-{failed.pk}" hx-swap="delete"' in events[0]
    question, answer = await messages()
    assert question.content == "Hi"
    assert (answer.status, answer.content) == ("complete", "Second time lucky.")
    assert not await Message.objects.filter(pk=failed.pk).aexists()
    assert fake_openai.last_body["messages"][-1] == {"role": "user", "content": "Hi"}


async def test_only_the_last_answer_can_be_retried(client, local_model, fake_openai):
    fake_openai.script(HttpError(401), Reply(text="Later."))
    await read_events(await send(client, message="Hi", model=local_model))
    _, failed = await messages()
    conversation = await Conversation.objects.aget()
    await read_events(
        await send(client, message="More", model=local_model, conversation=conversation.pk)
    )
    response = await client.post("/assistant/retry/", {"message": failed.pk})
    assert response.status_code == 409
    assert "Only the last answer can be retried." in response.text


# Stop and progress ------------------------------------------------------------------------


SLOW = Reply(text="word " * 400, chunk_size=5, delay=0.02)


async def _read_until(stream, predicate) -> list[bytes]:
    seen = []
    async for part in stream:
        seen.append(part)
        if predicate(b"".join(seen)):
            break
    return seen


async def test_stop_from_another_request_keeps_the_partial_answer(client, local_model, fake_openai):
    fake_openai.script(SLOW)
    response = await send(client, message="Talk", model=local_model)
    stream = aiter(response.streaming_content)
    first = await _read_until(stream, lambda body: body.count(b"beforeend") > 20)
    _, answer = await messages()

    stop = await client.post(f"/assistant/c/{answer.conversation_id}/messages/{answer.pk}/stop/")
    assert stop.status_code == 204
    rest = [part async for part in stream]

    await answer.arefresh_from_db()
    assert answer.status == "stopped"
    assert 0 < len(answer.content) < len(SLOW.text)
    assert answer.content == appended_text(parse_events(b"".join(first + rest).decode()), answer.pk)
    assert "Stopped." in b"".join(rest).decode()
    assert await UsageRecord.objects.filter(outcome="stopped").aexists()


async def test_a_stop_flag_written_by_another_process_ends_the_stream(
    client, local_model, fake_openai
):
    """Another worker's stop view only writes the database: a plain UPDATE on another
    connection (another thread here) must be enough."""
    fake_openai.script(SLOW)
    response = await send(client, message="Talk", model=local_model)
    stream = aiter(response.streaming_content)
    await _read_until(stream, lambda body: body.count(b"beforeend") > 10)
    _, answer = await messages()

    def other_worker():
        try:
            Message.objects.filter(pk=answer.pk).update(stop_requested=True)
        finally:
            connections.close_all()

    await asyncio.get_running_loop().run_in_executor(None, other_worker)
    rest = b"".join([part async for part in stream]).decode()

    await answer.arefresh_from_db()
    assert answer.status == "stopped"
    assert 0 < len(answer.content) < len(SLOW.text)
    assert "Stopped." in rest


async def test_progress_is_saved_while_the_answer_streams(client, local_model, fake_openai):
    fake_openai.script(SLOW)
    response = await send(client, message="Talk", model=local_model)
    stream = aiter(response.streaming_content)
    started = asyncio.get_running_loop().time()
    await _read_until(stream, lambda body: asyncio.get_running_loop().time() - started > 1.6)
    _, answer = await messages()
    assert answer.status == "streaming"
    assert answer.content  # saved before the end
    assert len(answer.content) < len(SLOW.text)
    await stream.aclose()


async def test_stopping_another_users_message_is_a_404(
    client, local_model, fake_openai, other_app_user
):
    await read_events(await send(client, message="Hi", model=local_model))
    _, answer = await messages()
    other = AsyncClient()
    await other.aforce_login(other_app_user)
    response = await other.post(f"/assistant/c/{answer.conversation_id}/messages/{answer.pk}/stop/")
    assert response.status_code == 404
    await answer.arefresh_from_db()
    assert not answer.stop_requested


async def test_an_answer_with_nothing_in_it_is_an_error_with_retry(
    client, local_model, fake_openai
):
    fake_openai.script(Reply(text=""))
    events = await read_events(await send(client, message="Hi", model=local_model))
    _, answer = await messages()
    assert (answer.status, answer.error_kind) == ("error", "no_response")
    assert "The model ended its answer without saying anything." in events[-1]
    assert ">Retry</button>" in events[-1]
