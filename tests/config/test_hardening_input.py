"""Bad input, generated with hypothesis: the settings forms, chat posts, tool arguments and MCP
calls get unicode, null bytes, huge values, wrong types and deep JSON. The answer is a clear
4xx or a form error, never a 500, and what is stored does not change."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ai_settings.current import get_current
from ai_settings.models import (
    AISettings,
    CompatibleModel,
    CompatibleProvider,
    SettingsAuditEntry,
)
from assistant.models import Conversation, Message, ToolCall
from assistant.tools import ToolContext, server_tools
from prompts.models import ApiToken, Prompt, PromptCollection
from prompts.tokens import create_token
from tests.support import hardening as setup
from tests.support.chat import add_local_provider
from tests.support.live_server import asgi_application
from tests.support.mcp import MCP_HEADERS
from tests.support.settings_page import URL, open_form

pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume")

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run and every machine
)

DEPTH = sys.getrecursionlimit() + 100
DEEP_JSON = "[" * DEPTH + "]" * DEPTH
DEEP_OBJECT = '{"a":' * DEPTH + "1" + "}" * DEPTH

# Text a browser can send (no lone surrogates), with the awkward parts likely.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
nasty_text = st.one_of(
    text,
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\u202e\u200b\ufeff",
            "😀" * 50,
            "ｆｕｌｌ　ｗｉｄｔｈ",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "-1",
            "0",
            "1e309",
            "NaN",
            "9" * 400,
            "x" * 100_001,
            "\r\n\r\nX-Injected: yes",
            DEEP_JSON,
            DEEP_OBJECT,
            '{"a": "\\u0000"}',
            "[1, 2, {}]",
            "null",
        ]
    ),
)


# Settings → AI -----------------------------------------------------------------------------


def _settings_state() -> tuple[Any, ...]:
    return (
        *setup.stored_settings(),
        SettingsAuditEntry.objects.count(),
    )


@pytest.fixture
def manager_client(superuser, fake_openai) -> Client:
    """A superuser on Settings → AI, with a compatible provider, a model and a header saved."""
    client = Client()
    client.force_login(superuser)
    AISettings.load()
    provider = CompatibleProvider.objects.create(
        name="Local", base_url=fake_openai.base_url, api_key="sk-" + "local-0123456789",
        custom_headers=json.dumps({"X-Team": "team-secret-value"}),
    )  # fmt: skip
    CompatibleModel.objects.create(provider=provider, model_id="local-model")
    setup.bump()
    return client


SETTINGS_FIELDS = [
    "openai-api_key", "openai-allowed_models", "openai-custom_models", "google-api_key",
    "custom_system_prompt", "mcp_enabled", "prompts_collection", "mcp_system_prompt",
    "rate_limit_per_minute", "daily_token_budget", "version", "providers-TOTAL_FORMS",
    "providers-0-id", "providers-0-name", "providers-0-base_url", "providers-0-api_key",
    "providers-0-models-TOTAL_FORMS", "providers-0-models-0-id", "providers-0-models-0-model_id",
    "providers-0-models-0-context_window", "providers-0-models-0-max_output",
    "providers-0-models-0-provider_options", "providers-0-models-0-input_price",
    "providers-0-headers-TOTAL_FORMS", "providers-0-headers-0-name",
    "providers-0-headers-0-value", "providers-0-headers-0-original_name", "action",
]  # fmt: skip


@pytest.mark.django_db
@settings(FUZZ, max_examples=25)
@given(field=st.sampled_from(SETTINGS_FIELDS), value=nasty_text)
@example(field="providers-0-models-0-provider_options", value=DEEP_JSON)
@example(field="providers-0-models-0-provider_options", value='{"a": "\\u0000"}')
@example(field="providers-0-headers-0-value", value="ok\r\nX-Injected: yes")
@example(field="providers-TOTAL_FORMS", value="1000000000")
@example(field="providers-0-models-TOTAL_FORMS", value="1000000000")
@example(field="providers-0-headers-TOTAL_FORMS", value="1000000000")
@example(field="rate_limit_per_minute", value="9" * 400)
@example(field="custom_system_prompt", value="a\x00b")
def test_bad_settings_input_is_a_form_error_and_saves_nothing(manager_client, field, value):
    form = open_form(manager_client)
    before = _settings_state()
    data = form.post()
    data[field] = [value]
    response = manager_client.post(URL, data)
    assert response.status_code in (200, 302, 400, 409), response.status_code
    if response.status_code == 302:
        return  # the value was acceptable and saved
    assert _settings_state() == before, f"{field}={value[:80]!r} changed the stored settings"
    if response.status_code == 400:
        assert 'class="form-error"' in response.text or "errorlist" in response.text


@pytest.mark.django_db
@FUZZ
@given(data=st.dictionaries(st.sampled_from(["target", "providers-0-base_url",
    "providers-0-api_key", "openai-api_key", "providers-TOTAL_FORMS", "prefix",
    "providers-0-models-TOTAL_FORMS", "preset", "model_id"]), nasty_text, max_size=4))  # fmt: skip
def test_settings_partials_and_test_connection_answer_bad_input_without_a_500(manager_client, data):
    before = _settings_state()
    responses = [
        manager_client.post(reverse("ai_settings:test_connection"), data),
        manager_client.get(reverse("ai_settings:new_provider"), data),
        manager_client.get(reverse("ai_settings:new_model_row"), data),
        manager_client.get(reverse("ai_settings:new_header_row"), data),
    ]
    for response in responses:
        assert response.status_code in (200, 400), response.status_code
    assert _settings_state() == before


@pytest.mark.django_db
@settings(FUZZ, max_examples=20)
@given(
    field=st.sampled_from(["daily_token_budget", "model_access", "models", "group"]),
    value=nasty_text,
    period=st.dictionaries(st.sampled_from(["period", "start", "end"]), nasty_text, max_size=3),
)
def test_usage_and_group_forms_refuse_bad_input_without_a_500(manager_client, field, value, period):
    group = setup.app_users_group()
    before = _settings_state()
    data = {"group": str(group.pk), f"group-{group.pk}-model_access": "all"}
    data[f"group-{group.pk}-{field}" if field != "group" else "group"] = value
    response = manager_client.post(reverse("ai_settings:groups"), data)
    assert response.status_code in (302, 400, 404), response.status_code
    if response.status_code != 302:
        assert _settings_state() == before
    for name in ("ai_settings:usage", "ai_settings:usage_csv"):
        response = manager_client.get(reverse(name), period)
        assert response.status_code in (200, 400), (name, response.status_code)
        if response.streaming:
            b"".join(response)


# Chat posts --------------------------------------------------------------------------------


@pytest.fixture
def chat_client(app_user, fake_openai) -> tuple[Client, str]:
    AISettings.load()
    setup.set_ai(rate_limit_per_minute=100_000)
    model = add_local_provider(fake_openai)
    setup.active_collection()
    client = Client()
    client.force_login(app_user)
    return client, model


CHAT_FIELDS = ["message", "model", "conversation", "page_url", "attach_page", "prompt",
               "prompt_var-topic", "surface"]  # fmt: skip


@pytest.mark.django_db(transaction=True)  # answers are stored from a worker thread
@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(CHAT_FIELDS), nasty_text, min_size=1, max_size=4),
    valid_model=st.booleans(),
)
@example(fields={"message": "a\x00b"}, valid_model=True)
@example(fields={"message": "x" * 100_001}, valid_model=True)
@example(fields={"conversation": "9" * 400, "message": "hi"}, valid_model=True)
@example(fields={"page_url": "/" + "a" * 3000, "message": "hi"}, valid_model=True)
@example(fields={"prompt": "summarize", "prompt_var-topic": "\x00"}, valid_model=True)
def test_bad_chat_posts_are_refused_clearly_and_store_nothing(chat_client, fields, valid_model):
    client, model = chat_client
    data = dict(fields)
    if valid_model:
        data.setdefault("model", model)
    before = Message.objects.count()
    response = client.post(reverse("assistant:send"), data)
    assert response.status_code in (200, 204, 400, 404, 409, 429), response.status_code
    if response.status_code == 200:
        body = b"".join(response)
        assert body.startswith(b"data: ")
        reply = Message.objects.filter(role="assistant").latest("id")
        assert reply.status in ("complete", "error"), reply.status
        return
    assert Message.objects.count() == before
    if response.status_code == 400:
        assert b'role="alert"' in response.content  # the reason, above the message box


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(title=nasty_text, mode=nasty_text, decision_field=nasty_text)
def test_bad_conversation_and_tool_settings_posts_change_nothing(
    chat_client, app_user, title, mode, decision_field
):
    client, _ = chat_client
    objects = setup.door_objects(app_user)
    conversation = Conversation.objects.get(pk=objects["conversation"])
    response = client.post(
        reverse("assistant:rename", kwargs={"pk": conversation.pk}), {"title": title}
    )
    assert response.status_code in (302, 400)
    conversation.refresh_from_db()
    if response.status_code == 400:
        assert conversation.title == "Door test"
    response = client.post(
        reverse("assistant:tool_settings"), {"mode-items": mode, "mode-nope": mode}
    )
    assert response.status_code in (302, 400)
    call = ToolCall.objects.get(pk=objects["tool_call"])
    response = client.post(
        reverse("assistant:tool_answer", kwargs={"pk": call.pk}), {"q0": decision_field}
    )
    assert response.status_code == 409
    for name in ("assistant:retry", "assistant:panel"):
        method = client.post if name == "assistant:retry" else client.get
        response = method(reverse(name), {"message": title, "conversation": title})
        assert response.status_code in (200, 400, 404, 409)


@pytest.mark.django_db
def test_a_decision_that_does_not_fit_the_tool_call_is_refused_and_changes_nothing(
    client, app_user
):
    """Approve/deny are for calls awaiting approval, answer/dismiss for ask_user questions."""
    objects = setup.door_objects(app_user)
    approval = ToolCall.objects.get(pk=objects["tool_call"])
    question = ToolCall.objects.create(
        message=approval.message, call_id="call_q", name="ask_user",
        arguments={"questions": [{"question": "Which?", "options": ["A", "B"]}]},
    )  # fmt: skip
    client.force_login(app_user)
    for call, decision in ((approval, "answer"), (approval, "dismiss"), (question, "approve"),
                           (question, "deny")):  # fmt: skip
        response = client.post(reverse(f"assistant:tool_{decision}", kwargs={"pk": call.pk}))
        assert response.status_code == 409, (call.name, decision)
        call.refresh_from_db()
        assert (call.status, call.decided_by_id) == ("pending", None)


# Tool arguments (the registry's run(), as the chat and MCP call it) -------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.one_of(text, st.sampled_from(["_eq", "_and", "_or", "_in", "id", "name"])),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
COLLECTIONS = [
    "auth.group",
    "auth.user",
    "prompts.prompt",
    "prompts.promptcollection",
    "ai_settings.aisettings",
    "assistant.message",
    "prompts.apitoken",
    "Group",
]
tool_arguments = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "action": st.sampled_from(["read", "create", "update", "delete"]) | nasty_text,
            "collection": st.sampled_from(COLLECTIONS) | nasty_text,
            "keys": json_values,
            "fields": json_values,
            "filter": json_values,
            "sort": json_values,
            "limit": json_values,
            "offset": json_values,
            "data": json_values,
            "name": nasty_text,
            "questions": json_values,
        },
    ),
    json_values,
    nasty_text,
)


def _data_state() -> tuple[Any, ...]:
    return tuple(
        list(model.objects.order_by("pk").values())
        for model in (Group, User, PromptCollection, Prompt, ApiToken, AISettings)
    )


@pytest.mark.django_db
@settings(FUZZ, max_examples=150)
@given(tool=st.sampled_from([t.name for t in server_tools()]), arguments=tool_arguments)
@example(tool="items", arguments=DEEP_OBJECT)
@example(
    tool="items", arguments={"action": "read", "collection": "auth.group", "filter": DEEP_OBJECT}
)
@example(tool="items", arguments={"action": "read", "collection": "auth.group", "limit": 2**200})
@example(tool="items", arguments={"action": "read", "collection": "auth.group", "offset": 2**70})
@example(
    tool="items",
    arguments={"action": "read", "collection": "auth.group", "filter": {"id": {"_eq": 2**70}}},
)
@example(
    tool="items",
    arguments={"action": "read", "collection": "auth.group", "filter": {"name": {"_eq": "a\x00b"}}},
)
@example(
    tool="items",
    arguments={"action": "create", "collection": "auth.group", "data": {"name": "a\x00b"}},
)
@example(
    tool="items", arguments={"action": "read", "collection": "auth.group", "sort": ["-" * 300]}
)
@example(tool="schema", arguments={"keys": DEEP_JSON})
def test_tool_arguments_never_raise_and_errors_change_nothing(superuser, tool, arguments):
    from assistant.tools import get_tool

    context = ToolContext(user=superuser, current=get_current(), via_mcp=True)
    before = _data_state()
    registered = get_tool(tool)
    preview = registered.preview(arguments, context)
    assert isinstance(preview.summary, str)
    result = registered.run(arguments, context)
    payload = json.loads(result.content)
    if result.is_error:
        assert payload.get("error"), payload
        assert _data_state() == before


# MCP calls -----------------------------------------------------------------------------------


async def _mcp(body: bytes | str, headers: dict[str, str]) -> tuple[int, str]:
    application = asgi_application()

    try:
        status, _, text = await setup.asgi_request("POST", "/mcp", headers=headers, body=body)
    finally:
        await application.mcp_app.shutdown()
    return status, text


mcp_bodies = st.one_of(
    st.builds(
        lambda method, params, id: json.dumps(
            {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
        ),
        st.sampled_from(["tools/call", "prompts/get", "tools/list", "initialize", "resources/read"])
        | text,
        json_values,
        st.integers() | text | st.none(),
    ),
    st.builds(
        lambda name, arguments: json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        ),
        st.sampled_from(["items", "schema", "prompts", "system-prompt", "ask_user"]) | text,
        json_values,
    ),
    nasty_text,
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@pytest.mark.django_db(transaction=True)  # the MCP app closes old connections per request
@settings(FUZZ, max_examples=40)
@given(body=mcp_bodies)
@example(body=DEEP_JSON)
@example(body=setup.jsonrpc("tools/call", {"name": "items", "arguments": DEEP_OBJECT}))
@example(body=setup.jsonrpc("prompts/get", {"name": "summarize", "arguments": {"x": "\x00"}}))
def test_bad_mcp_calls_get_an_error_answer_never_a_500(superuser, body):
    AISettings.load()
    if not ApiToken.objects.filter(name="fuzz").exists():
        setup.active_collection()
        setup.set_ai(mcp_enabled=True)
        _, raw = create_token(superuser, "fuzz")
        _mcp_tokens["raw"] = raw
    before = _data_state()[:4]
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {_mcp_tokens['raw']}"}
    status, answer = async_to_sync(_mcp)(body, headers)
    assert status < 500, (status, answer[:300])
    if status == 200 and answer:
        reply = json.loads(answer)
        assert "result" in reply or "error" in reply
        if "error" in reply or reply.get("result", {}).get("isError"):
            assert _data_state()[:4] == before


_mcp_tokens: dict[str, str] = {}
