"""Shared set-up for the hardening suite: accounts by name, the objects a door needs (owned
by the requesting account), AI settings switches, and calls to the ASGI app (/mcp)."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from django.contrib.auth.models import Group

from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider, GroupAIPolicy
from assistant.models import Conversation, Message, ToolCall
from config.demo_shop.models import Author, Book
from prompts.models import Prompt, PromptCollection, PromptMessage
from prompts.tokens import create_token
from tests.support.live_server import asgi_application

# get_current() rebuilds its snapshot when the settings version changes; the test database
# is emptied between tests, so each configuration gets a version no earlier test used.
_versions = itertools.count(9_000_000)


def bump() -> None:
    AISettings.load()
    AISettings.objects.filter(pk=1).update(version=next(_versions))


def set_ai(**fields: Any) -> None:
    """Change AI settings rows directly, with a fresh version."""
    AISettings.load()
    AISettings.objects.filter(pk=1).update(version=next(_versions), **fields)


def account(request: Any, name: str) -> Any:
    """The user behind an account name of config.doors.ACCOUNTS (None: anonymous)."""
    return None if name == "anonymous" else request.getfixturevalue(name)


def active_collection() -> PromptCollection:
    """A prompts collection with one published prompt ("summarize", no variables), active."""
    collection = PromptCollection.objects.create(name="Hardening prompts")
    prompt = Prompt.objects.create(
        collection=collection,
        name="summarize",
        status=Prompt.Status.PUBLISHED,
        description="Summarize the page.",
        system_prompt="You summarize.",
    )
    PromptMessage.objects.create(prompt=prompt, position=1, role="user", text="Summarize it.")
    set_ai(prompts_collection=collection)
    return collection


def door_objects(owner: Any) -> dict[str, Any]:
    """What the doors' URLs and forms refer to, owned by `owner`: a conversation whose last
    answer failed, a spare conversation to delete, a turn paused on a tool call, an API token,
    the "App users" group, the active collection's prompt, and a book of the demo's sample
    bookshop (so every admin page has an object to open)."""
    conversation = Conversation.objects.create(user=owner, title="Door test")
    Message.objects.create(conversation=conversation, role="user", content="Hello")
    failed = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status=Message.Status.ERROR,
        error_kind="unavailable",
        error_message="OpenAI is unavailable right now; try again in a moment.",
        turn_key="d00" + "0" * 29,
    )
    spare = Conversation.objects.create(user=owner, title="Spare")
    waiting = Conversation.objects.create(user=owner, title="Waiting")
    Message.objects.create(conversation=waiting, role="user", content="Delete book 1")
    paused = Message.objects.create(
        conversation=waiting, role="assistant", status=Message.Status.AWAITING_APPROVAL
    )
    call = ToolCall.objects.create(
        message=paused,
        call_id="call_door",
        name="items",
        arguments={"action": "delete", "collection": "auth.group", "keys": [1]},
    )
    token, _ = create_token(owner, "door token")
    author = Author.objects.create(name="Door author")
    Book.objects.create(title="Door book", author=author, price="1.00", stock=1)
    return {
        "conversation": conversation.pk,
        "message": failed.pk,
        "turn": failed.turn_key,
        "spare_conversation": spare.pk,
        "paused_message": paused.pk,
        "tool_call": call.pk,
        "token": token.pk,
        "group": app_users_group().pk,
        "prompt": "summarize",
    }


def app_users_group() -> Group:
    """The "App users" group (a transactional test's flush removes the migration's row)."""
    from django.contrib.auth.models import Permission

    group, created = Group.objects.get_or_create(name="App users")
    if created:
        group.permissions.add(
            Permission.objects.get(content_type__app_label="assistant", codename="app_access")
        )
    return group


def fill(template: str, objects: dict[str, Any]) -> str:
    """Each "{name}" in `template` → that object's value."""
    return _PLACEHOLDER.sub(lambda match: str(objects[match.group(1)]), template)


def fill_data(data: dict[str, str], objects: dict[str, Any]) -> dict[str, str]:
    return {fill(key, objects): fill(value, objects) for key, value in data.items()}


def refers_to(data: dict[str, str]) -> set[str]:
    """The objects a door's form data names."""
    return {name for text in [*data, *data.values()] for name in _PLACEHOLDER.findall(text)}


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def jsonrpc(method: str, params: dict[str, Any] | None = None, id: int = 1) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}})


async def asgi_request(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, dict[str, str], str]:
    """One request to the ASGI app under test (the MCP dispatcher included), in process."""
    import httpx

    application = asgi_application()

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.request(method, path, headers=headers or {}, content=body)
    return response.status_code, dict(response.headers), response.text


def stored_settings() -> tuple[Any, ...]:
    """Everything Settings → AI stores (its row without the save time, the compatible
    providers and models, the group policies): equal before and after means nothing changed."""
    row = AISettings.objects.values().get(pk=1)
    row.pop("updated_at")
    return (
        row,
        list(CompatibleProvider.objects.order_by("pk").values()),
        list(CompatibleModel.objects.order_by("pk").values()),
        list(GroupAIPolicy.objects.order_by("pk").values()),
    )
