"""The chat loop's side of the tools (RegistryTurnTools): which calls run, which wait for the
user, and how Approve / Deny / answers resume the turn. Driven with the provider's ToolCall
events and real rows, as the chat loop drives it."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group

from ai_settings.current import get_current
from assistant import history
from assistant import tool_calls as turn
from assistant.models import Conversation, Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers.events import ToolCall
from assistant.tools.preferences import set_mode
from prompts.models import Prompt
from tests.support.accounts import create_user

Status = ToolCallRow.Status


def chat_user(django_user_model, username, *perms):
    return create_user(django_user_model, username, groups=["App users"], perms=perms)


@pytest.fixture
def viewer(db, django_user_model):
    return chat_user(
        django_user_model, "viewer", "prompts.view_prompt", "prompts.view_promptcollection"
    )


@pytest.fixture
def deleter(db, django_user_model):
    return chat_user(django_user_model, "deleter", "prompts.view_prompt", "prompts.delete_prompt")


def reply_for(user) -> Message:
    conversation = Conversation.objects.create(user=user)
    Message.objects.create(conversation=conversation, role="user", content="please")
    return Message.objects.create(conversation=conversation, role="assistant", content="")


def handle(user, *calls: ToolCall, last_step: bool = False):
    tools = turn.RegistryTurnTools(user, get_current())
    message = reply_for(user)
    outcome = async_to_sync(tools.handle)(message, calls, last_step=last_step)
    return tools, message, outcome


def delete_call(*keys, call_id="call-1") -> ToolCall:
    arguments = {"action": "delete", "collection": "prompts.prompt", "keys": list(keys)}
    return ToolCall(call_id, "items", arguments)


def test_specs_leave_out_disabled_tools(viewer):
    set_mode(viewer, "prompts", "disabled")
    specs = async_to_sync(turn.RegistryTurnTools(viewer, get_current()).specs)()
    assert [spec.name for spec in specs] == ["schema", "items", "ask_user"]


def test_view_only_delete_is_denied_at_once_without_an_approval_card(viewer, library):
    _, _, outcome = handle(viewer, delete_call(library["greet"].pk))
    (row,) = outcome.rows
    assert outcome.paused_status == ""
    assert row.status == Status.FAILED and row.is_error
    assert json.loads(row.result)["error"].startswith("Permission denied")
    assert outcome.results[0].is_error and outcome.results[0].tool_call_id == "call-1"
    assert Prompt.objects.filter(pk=library["greet"].pk).exists()


def test_view_only_delete_with_keys_as_a_json_string_is_denied_too(viewer, library):
    call = ToolCall(
        "c",
        "items",
        {"action": "delete", "collection": "prompts.prompt", "keys": f"[{library['greet'].pk}]"},
    )
    _, _, outcome = handle(viewer, call)
    assert outcome.rows[0].status == Status.FAILED
    assert Prompt.objects.count() == 4


def test_delete_waits_for_approval_and_runs_only_after_approve(deleter, library):
    tools, message, outcome = handle(deleter, delete_call(library["greet"].pk))
    (row,) = outcome.rows
    assert outcome.paused_status == Message.Status.AWAITING_APPROVAL
    assert row.status == Status.PENDING and outcome.results == []
    assert Prompt.objects.filter(pk=library["greet"].pk).exists()

    card = turn.approval_card(row, deleter, get_current())
    assert card.summary.startswith("Delete 1 item from Prompts (prompts.prompt)")
    assert card.affected_count == 1

    assert turn.approve(row, deleter)
    assert not turn.approve(row, deleter)  # a second click changes nothing
    resumed = async_to_sync(tools.resume)(message)
    assert resumed.paused_status == ""
    assert resumed.rows[0].status == Status.DONE
    assert not Prompt.objects.filter(pk=library["greet"].pk).exists()
    assert resumed.rows[0].decided_by == deleter


def test_an_approved_call_runs_once_even_if_two_workers_resume(deleter, library):
    tools, message, outcome = handle(deleter, delete_call(library["greet"].pk, library["essay"].pk))
    turn.approve(outcome.rows[0], deleter)
    async_to_sync(tools.resume)(message)
    again = async_to_sync(tools.resume)(message)
    assert json.loads(again.rows[0].result)["deleted"] == 2


def test_deny_tells_the_model_and_changes_nothing(deleter, library):
    tools, message, outcome = handle(deleter, delete_call(library["greet"].pk))
    assert turn.deny(outcome.rows[0], deleter)
    resumed = async_to_sync(tools.resume)(message)
    assert resumed.paused_status == "" and resumed.rows[0].status == Status.DENIED
    assert Prompt.objects.filter(pk=library["greet"].pk).exists()
    # The next request's history carries the denial as the call's result.
    rows = Message.objects.filter(conversation=message.conversation).prefetch_related("tool_calls")
    tool_messages = [m for m in history.to_chat_messages(rows) if m.role == "tool"]
    assert tool_messages[0].is_error and "denied" in tool_messages[0].text


def test_always_mode_runs_writes_without_asking(deleter, library):
    set_mode(deleter, "items", "always")
    _, _, outcome = handle(deleter, delete_call(library["greet"].pk))
    assert outcome.paused_status == "" and outcome.rows[0].status == Status.DONE
    assert not Prompt.objects.filter(pk=library["greet"].pk).exists()


def test_reads_run_without_approval_in_ask_mode(viewer, library):
    call = ToolCall("r", "items", {"action": "read", "collection": "prompts.prompt"})
    _, _, outcome = handle(viewer, call)
    assert outcome.paused_status == "" and outcome.rows[0].status == Status.DONE
    assert json.loads(outcome.results[0].text)["total"] == 4


def test_a_disabled_tool_is_not_run(viewer, library):
    set_mode(viewer, "items", "disabled")
    call = ToolCall("r", "items", {"action": "read", "collection": "prompts.prompt"})
    _, _, outcome = handle(viewer, call)
    assert outcome.rows[0].status == Status.FAILED
    assert "not available" in outcome.rows[0].result


def test_on_the_last_step_nothing_runs(deleter, library):
    set_mode(deleter, "items", "always")
    _, _, outcome = handle(deleter, delete_call(library["greet"].pk), last_step=True)
    assert outcome.rows[0].status == Status.FAILED and "step limit" in outcome.rows[0].result
    assert Prompt.objects.filter(pk=library["greet"].pk).exists()


def test_ask_user_pauses_for_an_answer_and_the_answer_becomes_the_result(viewer, db):
    question = {"questions": [{"question": "Which one?", "options": ["Support", "Writing"]}]}
    tools, message, outcome = handle(viewer, ToolCall("q", "ask_user", question))
    assert outcome.paused_status == Message.Status.AWAITING_ANSWER
    row = outcome.rows[0]
    assert [q.text for q in turn.questions_for(row)] == ["Which one?"]

    assert turn.answer(row, viewer, {}) == {0: "Choose an option."}
    assert ToolCallRow.objects.get(pk=row.pk).status == Status.PENDING
    assert turn.answer(row, viewer, {"q0": "1"}) == {}
    resumed = async_to_sync(tools.resume)(message)
    assert resumed.paused_status == ""
    assert json.loads(resumed.rows[0].result) == {
        "answers": [{"question": "Which one?", "selected": ["Writing"]}]
    }


def test_an_invalid_ask_user_call_goes_back_to_the_model(viewer, db):
    bad = {"questions": [{"question": "Pick", "options": ["a", "b", "c", "d", "e"]}]}
    _, _, outcome = handle(viewer, ToolCall("q", "ask_user", bad))
    assert outcome.paused_status == "" and outcome.rows[0].status == Status.FAILED
    assert "at most 4 per question" in outcome.results[0].text


def test_dismissed_questions_tell_the_model(viewer, db):
    tools, message, outcome = handle(
        viewer, ToolCall("q", "ask_user", {"questions": [{"question": "Title?"}]})
    )
    assert turn.dismiss(outcome.rows[0], viewer)
    resumed = async_to_sync(tools.resume)(message)
    assert json.loads(resumed.rows[0].result)["answers"] is None


def test_a_step_with_reads_and_a_write_runs_the_reads_and_waits_for_the_write(deleter, library):
    _, _, outcome = handle(
        deleter,
        ToolCall("s", "schema", {}),
        ToolCall("r", "items", {"action": "read", "collection": "prompts.prompt"}),
        delete_call(library["greet"].pk, call_id="d"),
    )
    assert [row.status for row in outcome.rows] == [Status.DONE, Status.DONE, Status.PENDING]
    assert [m.tool_call_id for m in outcome.results] == ["s", "r"]
    assert outcome.paused_status == Message.Status.AWAITING_APPROVAL
    assert [c.id for c in outcome.assistant_message.tool_calls] == ["s", "r", "d"]


@pytest.mark.django_db(transaction=True)
def test_several_reads_in_one_step_run_concurrently_with_their_own_connections(django_user_model):
    user = chat_user(django_user_model, "reader", "auth.view_group")
    Group.objects.create(name="Editors")
    calls = [
        ToolCall(f"r{n}", "items", {"action": "read", "collection": "auth.group"}) for n in range(3)
    ]
    _, _, outcome = handle(user, *calls)
    assert [row.status for row in outcome.rows] == [Status.DONE] * 3
    assert all(
        "Editors" in [i["name"] for i in json.loads(m.text)["items"]] for m in outcome.results
    )
