"""The chat loop with tools: calls that may run go on in the same stream; a change that needs
approval pauses the turn with a card, and Approve or Deny resumes it in a new stream."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.test import AsyncClient

from assistant.chat import MAX_STEPS
from assistant.models import Message, ToolCall
from prompts.models import PromptCollection
from tests.fakes.script import Call, Reply
from tests.support.chat import read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]


@pytest.fixture
async def client(app_user) -> AsyncClient:
    def grant():
        app_user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="prompts", codename__endswith="promptcollection"
            )
        )

    await sync_to_async(grant)()
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


async def assistant_messages() -> list[Message]:
    return [m async for m in Message.objects.filter(role="assistant").order_by("id")]


async def test_a_read_only_call_runs_and_the_answer_follows_in_the_same_stream(
    client, local_model, fake_openai
):
    await PromptCollection.objects.acreate(name="Marketing")
    fake_openai.script(
        Reply(text="Let me look.", tool_calls=[Call("items", {
            "action": "read", "collection": "prompts.promptcollection",
        })]),
        Reply(text="You have one collection: Marketing."),
    )  # fmt: skip

    events = await read_events(
        await client.post("/assistant/messages/", {"message": "Collections?", "model": local_model})
    )

    step_one, step_two = await assistant_messages()
    assert step_one.content == "Let me look." and step_one.finish_reason == "tool_calls"
    call = await ToolCall.objects.aget()
    assert (call.name, call.status) == ("items", "done")
    assert "Marketing" in call.result
    assert step_two.content == "You have one collection: Marketing."
    # The second request carried the call and its result.
    sent = fake_openai.last_body["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "items"
    assert sent[-1]["role"] == "tool" and "Marketing" in sent[-1]["content"]
    assert f'id="message-{step_two.pk}"' in "".join(events)  # the second step was added live
    assert "items · " in "".join(events)  # the call's card
    tools_sent = [t["function"]["name"] for t in fake_openai.generation_requests()[0].body["tools"]]
    assert {"schema", "items"} <= set(tools_sent)


async def test_a_delete_waits_for_approval_and_goes_on_after_approve(
    client, local_model, fake_openai
):
    doomed = await PromptCollection.objects.acreate(name="Old stuff")
    fake_openai.script(
        Reply(tool_calls=[Call("items", {
            "action": "delete", "collection": "prompts.promptcollection", "keys": [doomed.pk],
        })]),
        Reply(text="Deleted “Old stuff”."),
    )  # fmt: skip

    events = await read_events(
        await client.post(
            "/assistant/messages/", {"message": "Delete Old stuff", "model": local_model}
        )
    )
    [paused] = await assistant_messages()
    assert paused.status == "awaiting_approval"
    call = await ToolCall.objects.aget()
    assert call.status == "pending"
    assert "Approve this change?" in events[-1]
    assert f"/assistant/tool-calls/{call.pk}/approve/" in events[-1]
    assert await PromptCollection.objects.filter(pk=doomed.pk).aexists()  # nothing yet
    assert len(fake_openai.generation_requests()) == 1

    decided = await client.post(
        f"/assistant/tool-calls/{call.pk}/approve/", headers={"HX-Request": "true"}
    )
    assert decided.status_code == 200
    assert f'hx-post="/assistant/messages/{paused.pk}/resume/"' in decided.text
    assert await PromptCollection.objects.filter(pk=doomed.pk).aexists()  # runs on resume

    resumed = await read_events(await client.post(f"/assistant/messages/{paused.pk}/resume/"))
    assert not await PromptCollection.objects.filter(pk=doomed.pk).aexists()
    await call.arefresh_from_db()
    assert call.status == "done"
    first, answer = await assistant_messages()
    assert first.status == "complete"
    assert answer.content == "Deleted “Old stuff”."
    assert f'id="message-{answer.pk}"' in "".join(resumed)

    again = await client.post(f"/assistant/messages/{paused.pk}/resume/")
    assert again.status_code == 409  # resumes once, whoever clicks twice


def _article(html: str, message_id: int) -> str:
    """One message's markup, without the per-render CSRF token."""
    pattern = rf'<article [^>]*id="message-{message_id}".*?</article>'
    found = re.search(pattern, html, re.DOTALL)
    assert found, f"message {message_id} not shown"
    # A page's forms carry its CSRF token; the stream's do not (any tab of any session shows
    # them, and htmx sends the page's token as a header).
    return re.sub(
        r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">', "", found.group()
    )


async def test_a_paused_answer_looks_the_same_streamed_reloaded_and_after_a_decision(
    client, local_model, fake_openai
):
    doomed = await PromptCollection.objects.acreate(name="Old stuff")
    fake_openai.script(
        Reply(text="Sure.", tool_calls=[Call("items", {
            "action": "delete", "collection": "prompts.promptcollection", "keys": [doomed.pk],
        })]),
    )  # fmt: skip
    events = await read_events(
        await client.post("/assistant/messages/", {"message": "Delete it", "model": local_model})
    )
    [paused] = await assistant_messages()
    call = await ToolCall.objects.aget()
    page_url = f"/assistant/c/{paused.conversation_id}/"

    streamed = _article(events[-1], paused.pk)
    assert "Approve this change?" in streamed
    assert streamed == _article((await client.get(page_url)).text, paused.pk)

    decided = await client.post(
        f"/assistant/tool-calls/{call.pk}/approve/", headers={"HX-Request": "true"}
    )
    swapped = _article(decided.text, paused.pk)
    assert "Approve this change?" not in swapped and "items · Approved" in swapped
    assert swapped == _article((await client.get(page_url)).text, paused.pk)


async def test_deny_tells_the_model_and_changes_nothing(client, local_model, fake_openai):
    kept = await PromptCollection.objects.acreate(name="Keep me")
    fake_openai.script(
        Reply(tool_calls=[Call("items", {
            "action": "delete", "collection": "prompts.promptcollection", "keys": [kept.pk],
        })]),
        Reply(text="Understood, nothing deleted."),
    )  # fmt: skip
    await read_events(
        await client.post("/assistant/messages/", {"message": "Delete it", "model": local_model})
    )
    [paused] = await assistant_messages()
    call = await ToolCall.objects.aget()

    await client.post(f"/assistant/tool-calls/{call.pk}/deny/", headers={"HX-Request": "true"})
    await read_events(await client.post(f"/assistant/messages/{paused.pk}/resume/"))

    assert await PromptCollection.objects.filter(pk=kept.pk).aexists()
    sent = fake_openai.last_body["messages"]
    assert sent[-1]["role"] == "tool" and "denied" in sent[-1]["content"]
    assert (await assistant_messages())[-1].content == "Understood, nothing deleted."


async def test_a_new_message_instead_of_a_decision_closes_the_waiting_call(
    client, local_model, fake_openai
):
    kept = await PromptCollection.objects.acreate(name="Keep me")
    fake_openai.script(
        Reply(tool_calls=[Call("items", {
            "action": "delete", "collection": "prompts.promptcollection", "keys": [kept.pk],
        })]),
        Reply(text="OK, something else then."),
    )  # fmt: skip
    await read_events(
        await client.post("/assistant/messages/", {"message": "Delete it", "model": local_model})
    )
    [paused] = await assistant_messages()
    await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "Never mind", "model": local_model, "conversation": paused.conversation_id},
        )
    )
    call = await ToolCall.objects.aget()
    assert call.status == "denied"
    await paused.arefresh_from_db()
    assert paused.status == "complete"
    assert await PromptCollection.objects.filter(pk=kept.pk).aexists()
    roles = [m["role"] for m in fake_openai.last_body["messages"]]
    assert roles[-3:] == ["assistant", "tool", "user"]  # the call, its result, the new message


async def test_deciding_another_users_call_is_a_404(
    client, local_model, fake_openai, other_app_user
):
    doomed = await PromptCollection.objects.acreate(name="Theirs")
    fake_openai.script(
        Reply(tool_calls=[Call("items", {
            "action": "delete", "collection": "prompts.promptcollection", "keys": [doomed.pk],
        })]),
    )  # fmt: skip
    await read_events(
        await client.post("/assistant/messages/", {"message": "Delete", "model": local_model})
    )
    call = await ToolCall.objects.aget()
    [paused] = await assistant_messages()
    other = AsyncClient()
    await other.aforce_login(other_app_user)
    assert (await other.post(f"/assistant/tool-calls/{call.pk}/approve/")).status_code == 404
    assert (await other.post(f"/assistant/messages/{paused.pk}/resume/")).status_code == 404
    await call.arefresh_from_db()
    assert call.status == "pending"


async def test_a_turn_ends_after_the_step_limit_with_a_note(client, local_model, fake_openai):
    looking = Reply(tool_calls=[Call("schema", {})])
    fake_openai.script(*[looking] * (MAX_STEPS + 2))
    events = await read_events(
        await client.post("/assistant/messages/", {"message": "Loop", "model": local_model})
    )
    steps = await assistant_messages()
    assert len(steps) == MAX_STEPS
    assert len(fake_openai.generation_requests()) == MAX_STEPS
    assert steps[-1].error_kind == "too_many_steps"
    assert f"stopped after {MAX_STEPS} steps" in steps[-1].error_message
    assert f"stopped after {MAX_STEPS} steps" in events[-1]


async def test_tools_disabled_in_chat_settings_are_not_sent(client, local_model, fake_openai):
    page = await client.get("/assistant/")
    assert 'hx-get="/assistant/tools/"' in page.text  # the chat settings menu
    saved = await client.post(
        "/assistant/tools/", {"mode-items": "disabled", "mode-prompts": "disabled"}
    )
    assert saved.status_code == 302
    await read_events(
        await client.post("/assistant/messages/", {"message": "Hi", "model": local_model})
    )
    sent = {t["function"]["name"] for t in fake_openai.last_body["tools"]}
    assert "items" not in sent and "prompts" not in sent
    assert "schema" in sent
