"""Tools driven end to end by a scripted fake model: every call runs with the chatting user's
own permissions, the deny list holds for superusers, and bad calls come back as clear tool
errors the model (and the user) can read."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.test import AsyncClient

from assistant.models import ToolCall
from prompts.models import ApiToken, PromptCollection
from tests.fakes.script import Call, Reply
from tests.support.chat import read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]

COLLECTION = "prompts.promptcollection"


async def _client_for(user, *codenames: str) -> AsyncClient:
    def grant():
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="prompts", codename__in=codenames)
        )

    await sync_to_async(grant)()
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def _tool_result_sent(fake) -> str:
    """The tool result the model received in the follow-up request."""
    return fake.last_body["messages"][-1]["content"]


@pytest.mark.parametrize("as_json_string", [False, True], ids=["object", "json-string"])
async def test_view_only_user_asking_to_delete_is_denied_and_nothing_changes(
    app_user, local_model, fake_openai, as_json_string
):
    client = await _client_for(app_user, "view_promptcollection")
    kept = await PromptCollection.objects.acreate(name="Keep me")
    arguments = {"action": "delete", "collection": COLLECTION, "keys": [kept.pk]}
    fake_openai.script(
        Reply(tool_calls=[Call("items", json.dumps(arguments) if as_json_string else arguments)]),
        Reply(text="I am not allowed to delete that."),
    )

    events = await read_events(
        await client.post("/assistant/messages/", {"message": "Delete it", "model": local_model})
    )

    assert await PromptCollection.objects.filter(pk=kept.pk).aexists()
    call = await ToolCall.objects.aget()
    assert call.is_error and "Permission denied" in call.result
    assert "Permission denied" in _tool_result_sent(fake_openai)
    assert "Approve this change?" not in "".join(events)  # nothing to approve: it cannot run
    assert "I am not allowed to delete that." in "".join(events)


async def test_deny_list_holds_for_a_superuser_in_the_chat(superuser, local_model, fake_openai):
    token = await ApiToken.objects.acreate(
        user=superuser, name="laptop", token_hash=ApiToken.hash("secret-token"), prefix="abc"
    )
    client = AsyncClient()
    await client.aforce_login(superuser)
    fake_openai.script(
        Reply(tool_calls=[Call("items", {"action": "read", "collection": "prompts.apitoken"})]),
        Reply(tool_calls=[Call("items", {"action": "read", "collection": "sessions.session"})]),
        Reply(tool_calls=[Call("items", {
            "action": "read", "collection": "auth.user", "fields": ["username", "password"],
        })]),
        Reply(text="Those are not available."),
    )  # fmt: skip

    await read_events(
        await client.post("/assistant/messages/", {"message": "Show secrets", "model": local_model})
    )

    calls = [c async for c in ToolCall.objects.order_by("id")]
    assert len(calls) == 3 and all(c.is_error for c in calls)
    everything_sent = json.dumps([r.body for r in fake_openai.generation_requests()])
    assert token.token_hash not in everything_sent
    assert superuser.password not in everything_sent  # no password hash reaches the model
    assert "prompts.apitoken" in calls[0].result  # the error names what was refused


async def test_a_filter_on_an_unknown_field_is_a_clear_tool_error(
    app_user, local_model, fake_openai
):
    client = await _client_for(app_user, "view_promptcollection")
    fake_openai.script(
        Reply(tool_calls=[Call("items", {
            "action": "read", "collection": COLLECTION, "filter": {"colour": {"_eq": "red"}},
        })]),
        Reply(text="That field does not exist."),
    )  # fmt: skip

    await read_events(
        await client.post("/assistant/messages/", {"message": "Red ones?", "model": local_model})
    )

    call = await ToolCall.objects.aget()
    assert call.is_error
    assert "colour" in call.result and "name" in call.result  # names the bad and the valid fields
    assert "colour" in _tool_result_sent(fake_openai)
