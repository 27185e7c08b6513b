"""The MCP server at /mcp, driven by the official `mcp` client over real HTTP (uvicorn serving
config.asgi): tokens, the on/off switches, prompts and tools, and the transport's rules (Origin
checked, every error a JSON-RPC error)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.utils import timezone
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ai_settings.models import AISettings
from assistant.system_prompt import DEFAULT_SYSTEM_PROMPT
from prompts.models import ApiToken, Prompt, PromptCollection, PromptMessage
from prompts.tokens import create_token
from tests.support.mcp import INITIALIZE, MCP_HEADERS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]


# get_current() keeps its snapshot while the settings version is unchanged, and the test
# database is emptied between tests: give every configuration a version no other test used.
_versions = itertools.count(7_000_000)


def set_ai(**fields) -> None:
    AISettings.load()
    AISettings.objects.filter(pk=1).update(version=next(_versions), **fields)


@pytest.fixture
def collection(transactional_db) -> PromptCollection:
    collection = PromptCollection.objects.create(name="Team prompts")
    summarize = Prompt.objects.create(
        collection=collection,
        name="summarize",
        status=Prompt.Status.PUBLISHED,
        description="Summarize a record.",
        system_prompt="You write for {{ audience: Who reads the summary }}.",
    )
    PromptMessage.objects.create(
        prompt=summarize, position=1, role="user", text="Summarize {{ record }} for {{ audience }}."
    )
    PromptMessage.objects.create(prompt=summarize, position=2, role="assistant", text="Summary:")
    Prompt.objects.create(
        collection=collection, name="unfinished", status=Prompt.Status.DRAFT, system_prompt="x"
    )
    Prompt.objects.create(
        collection=collection, name="old", status=Prompt.Status.ARCHIVED, system_prompt="x"
    )
    return collection


@pytest.fixture
def mcp_on(collection) -> None:
    set_ai(mcp_enabled=True, prompts_collection=collection)


@pytest.fixture
def token(api_only_user) -> str:
    """A token of an API-only account (no App access): MCP is open to it."""
    return create_token(api_only_user, "laptop")[1]


@asynccontextmanager
async def mcp_session(server, token: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=20) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def post_initialize(server, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **(headers or {})}, timeout=20
    )


# -- authentication and switches --------------------------------------------------------------


async def test_prompts_are_listed_with_every_variable_as_a_required_argument(
    asgi_server, mcp_on, token
):
    async with mcp_session(asgi_server, token) as session:
        result = await session.list_prompts()
    assert [p.name for p in result.prompts] == ["summarize"]  # drafts and archived left out
    prompt = result.prompts[0]
    assert prompt.description == "Summarize a record."
    arguments = [(a.name, a.description, a.required) for a in prompt.arguments]
    assert arguments == [("audience", "Who reads the summary", True), ("record", None, True)]


async def test_get_prompt_returns_system_prompt_first_then_rendered_messages(
    asgi_server, mcp_on, token
):
    async with mcp_session(asgi_server, token) as session:
        result = await session.get_prompt(
            "summarize", {"audience": "the board", "record": "invoice 42"}
        )
    messages = [(m.role, m.content.text) for m in result.messages]
    assert messages == [
        ("user", "You write for the board."),
        ("user", "Summarize invoice 42 for the board."),
        ("assistant", "Summary:"),
    ]


async def test_get_prompt_without_a_variable_names_it_in_the_error(asgi_server, mcp_on, token):
    async with mcp_session(asgi_server, token) as session:
        with pytest.raises(MCPError, match="Missing value for variable “record”"):
            await session.get_prompt("summarize", {"audience": "the board"})


async def test_draft_prompt_cannot_be_fetched(asgi_server, mcp_on, token):
    async with mcp_session(asgi_server, token) as session:
        with pytest.raises(MCPError, match="Unknown prompt “unfinished”"):
            await session.get_prompt("unfinished", {})


async def test_without_active_collection_prompts_answer_an_error_saying_so(
    asgi_server, mcp_on, token
):
    await sync_to_async(set_ai)(prompts_collection=None)
    async with mcp_session(asgi_server, token) as session:
        with pytest.raises(MCPError, match="No prompts collection is active"):
            await session.list_prompts()
        with pytest.raises(MCPError, match="No prompts collection is active"):
            await session.get_prompt("summarize", {"audience": "a", "record": "b"})


async def test_modern_protocol_clients_are_served_too(asgi_server, mcp_on, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=20) as http,
        streamable_http_client(f"{asgi_server.url}/mcp", http_client=http) as streams,
        ClientSession(*streams) as session,
    ):
        await session.discover()
        result = await session.list_prompts()
    assert [p.name for p in result.prompts] == ["summarize"]


def test_missing_token_is_refused_with_www_authenticate(asgi_server, mcp_on):
    response = post_initialize(asgi_server)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error"]["message"]


def test_wrong_token_is_refused_with_www_authenticate(asgi_server, mcp_on, token):
    response = post_initialize(asgi_server, {"Authorization": f"Bearer {token}x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(asgi_server, mcp_on, token):
    assert post_initialize(asgi_server, {"Authorization": f"Bearer {token}"}).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    response = post_initialize(asgi_server, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_of_a_deactivated_user_is_refused(asgi_server, mcp_on, token, api_only_user):
    api_only_user.is_active = False
    api_only_user.save()
    assert post_initialize(asgi_server, {"Authorization": f"Bearer {token}"}).status_code == 401


async def test_client_sees_why_its_token_was_refused(asgi_server, mcp_on):
    with pytest.raises(BaseExceptionGroup) as raised:  # the client's task groups wrap it
        async with mcp_session(asgi_server, "aiat_not-a-real-token"):
            pass
    assert raised.group_contains(MCPError, match="The bearer token is not valid")


def test_using_a_token_records_when_it_was_last_used(asgi_server, mcp_on, token):
    assert ApiToken.objects.get().last_used_at is None
    assert post_initialize(asgi_server, {"Authorization": f"Bearer {token}"}).status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_mcp_is_404_while_the_mcp_server_is_off(asgi_server, collection, token):
    set_ai(mcp_enabled=False, prompts_collection=collection)
    assert post_initialize(asgi_server, {"Authorization": f"Bearer {token}"}).status_code == 404
    assert post_initialize(asgi_server).status_code == 404  # not even a 401 to hint it exists


def test_mcp_is_404_when_ai_is_disabled(asgi_server, mcp_on, token, settings):
    settings.AI_ENABLED = False
    assert post_initialize(asgi_server, {"Authorization": f"Bearer {token}"}).status_code == 404


def test_unknown_host_is_refused(asgi_server, mcp_on, token):
    headers = {"Authorization": f"Bearer {token}", "Host": "evil.example"}
    assert post_initialize(asgi_server, headers).status_code == 400


def test_other_paths_still_go_to_django(asgi_server, mcp_on):
    response = httpx.get(f"{asgi_server.url}/healthz", timeout=20)
    assert response.json() == {"status": "ok", "database": "ok"}


# -- tools ------------------------------------------------------------------------------------


@pytest.fixture
def group_editor(api_only_user):
    """The token owner may view and delete groups (and nothing else)."""
    api_only_user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="auth", codename__in=["view_group", "delete_group"]
        )
    )
    return api_only_user


async def test_tools_are_the_registry_without_ask_user_plus_system_prompt(
    asgi_server, mcp_on, token
):
    async with mcp_session(asgi_server, token) as session:
        result = await session.list_tools()
    names = [tool.name for tool in result.tools]
    assert names[0] == "system-prompt"
    assert {"schema", "items", "prompts"} <= set(names)
    assert "ask_user" not in names
    items = next(tool for tool in result.tools if tool.name == "items")
    assert items.input_schema["required"] == ["action", "collection"]
    assert items.annotations.read_only_hint is False


async def test_schema_lists_only_what_the_token_owner_may_read(
    asgi_server, mcp_on, token, group_editor
):
    async with mcp_session(asgi_server, token) as session:
        result = await session.call_tool("schema", {})
    assert not result.is_error
    keys = [c["collection"] for c in json.loads(result.content[0].text)["collections"]]
    assert keys == ["auth.group"]


async def test_items_reads_with_the_token_owners_permissions(
    asgi_server, mcp_on, token, group_editor
):
    await Group.objects.acreate(name="Editors")
    async with mcp_session(asgi_server, token) as session:
        groups = await session.call_tool(
            "items", {"action": "read", "collection": "auth.group", "fields": ["name"]}
        )
        prompts = await session.call_tool(
            "items", {"action": "read", "collection": "prompts.prompt"}
        )
    assert "Editors" in [item["name"] for item in json.loads(groups.content[0].text)["items"]]
    assert prompts.is_error  # no permission on prompts


async def test_deletes_are_refused_until_allowed_via_mcp(asgi_server, mcp_on, token, group_editor):
    group = await Group.objects.acreate(name="Temporary")
    delete = {"action": "delete", "collection": "auth.group", "keys": [group.pk]}
    async with mcp_session(asgi_server, token) as session:
        refused = await session.call_tool("items", delete)
        assert refused.is_error
        assert "Allow deletes via MCP" in refused.content[0].text
        assert await Group.objects.filter(pk=group.pk).aexists()

        await sync_to_async(set_ai)(mcp_allow_deletes=True)
        allowed = await session.call_tool("items", delete)
    assert not allowed.is_error, allowed.content[0].text
    assert not await Group.objects.filter(pk=group.pk).aexists()


async def test_system_prompt_tool_returns_the_override_or_the_default(asgi_server, mcp_on, token):
    async with mcp_session(asgi_server, token) as session:
        default = await session.call_tool("system-prompt", {})
        await sync_to_async(set_ai)(mcp_system_prompt="Only answer in haiku.")
        override = await session.call_tool("system-prompt", {})
    assert default.content[0].text == DEFAULT_SYSTEM_PROMPT
    assert override.content[0].text == "Only answer in haiku."


async def test_system_prompt_tool_is_absent_when_turned_off(asgi_server, mcp_on, token):
    await sync_to_async(set_ai)(mcp_system_prompt_enabled=False)
    async with mcp_session(asgi_server, token) as session:
        names = [tool.name for tool in (await session.list_tools()).tools]
        with pytest.raises(MCPError, match="Unknown tool “system-prompt”"):
            await session.call_tool("system-prompt", {})
    assert "system-prompt" not in names


async def test_prompts_tool_lists_the_active_collection(asgi_server, mcp_on, token):
    async with mcp_session(asgi_server, token) as session:
        result = await session.call_tool("prompts", {})
    assert [p["name"] for p in json.loads(result.content[0].text)["prompts"]] == ["summarize"]


def test_get_is_405_as_the_stateless_server_pushes_nothing(asgi_server, mcp_on, token):
    response = httpx.get(
        f"{asgi_server.url}/mcp",
        headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        timeout=20,
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# -- transport rules: Origin, and JSON errors only ---------------------------------------------


def test_a_request_from_another_sites_origin_is_refused_and_changes_nothing(
    asgi_server, mcp_on, token
):
    headers = {"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}
    response = post_initialize(asgi_server, headers)
    assert response.status_code == 403
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32000
    assert "Origin" in body["error"]["message"]
    assert ApiToken.objects.get().last_used_at is None  # refused before the token was used


def test_a_request_from_this_sites_own_origin_is_served(asgi_server, mcp_on, token):
    headers = {"Authorization": f"Bearer {token}", "Origin": asgi_server.url}
    assert post_initialize(asgi_server, headers).status_code == 200


def test_an_origin_of_another_scheme_or_port_is_refused(asgi_server, mcp_on, token):
    for origin in (asgi_server.url.replace("http:", "https:"), "http://127.0.0.1:1"):
        headers = {"Authorization": f"Bearer {token}", "Origin": origin}
        assert post_initialize(asgi_server, headers).status_code == 403, origin


def test_behind_a_tls_proxy_this_sites_origin_is_its_https_origin(
    asgi_server, mcp_on, token, settings
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    https_origin = asgi_server.url.replace("http:", "https:")
    assert post_initialize(asgi_server, {**headers, "Origin": https_origin}).status_code == 200
    assert post_initialize(asgi_server, {**headers, "Origin": asgi_server.url}).status_code == 403


def test_origins_in_csrf_trusted_origins_are_served(asgi_server, mcp_on, token, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.tools.example"]
    served = ["https://app.example.com", "https://chat.tools.example", "https://tools.example"]
    refused = ["http://app.example.com", "http://chat.tools.example", "https://eviltools.example"]
    for origin in served + refused:
        headers = {"Authorization": f"Bearer {token}", "Origin": origin}
        status = post_initialize(asgi_server, headers).status_code
        assert status == (200 if origin in served else 403), origin


def assert_json_rpc_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert isinstance(body["error"]["code"], int) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status"),
    [
        ("GET", "/mcp/x", {}, "", 404),
        ("POST", "/mcp/tools/list", {}, "{}", 404),
        ("PUT", "/mcp", {}, "{}", 405),
        ("DELETE", "/mcp", {}, "", 405),
        ("POST", "/mcp", {"Accept": "text/html"}, json.dumps(INITIALIZE), 406),
        # The SDK's newer protocol path answers 406 with an empty body.
        (
            "POST", "/mcp", {"Accept": "text/html", "MCP-Protocol-Version": "2026-07-28"},
            json.dumps(INITIALIZE), 406,
        ),
        ("POST", "/mcp", {"Content-Type": "text/plain"}, json.dumps(INITIALIZE), 400),  # SDK: text
        ("POST", "/mcp", {}, "{not json", 400),
        ("POST", "/mcp", {}, "[" + "1," * 2_200_000 + "1]", 413),  # SDK: text
    ],
)  # fmt: skip
def test_every_error_on_mcp_is_a_json_rpc_error_even_in_debug(
    asgi_server, mcp_on, token, settings, method, path, headers, content, status
):
    settings.DEBUG = True
    response = httpx.request(
        method,
        f"{asgi_server.url}{path}",
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", **headers},
        content=content,
        timeout=20,
    )
    assert_json_rpc_error(response, status)
    assert "<html" not in response.text.lower()


def test_an_unknown_path_under_mcp_is_a_json_404_without_a_token(asgi_server, mcp_on, settings):
    settings.DEBUG = True
    response = httpx.get(f"{asgi_server.url}/mcp/no-such-thing", timeout=20)
    assert_json_rpc_error(response, 404)


def test_missing_token_is_a_json_rpc_error(asgi_server, mcp_on):
    error = assert_json_rpc_error(post_initialize(asgi_server), 401)
    assert error["code"] == -32001


def test_the_endpoint_answers_with_a_trailing_slash_too(asgi_server, mcp_on, token):
    response = httpx.post(
        f"{asgi_server.url}/mcp/",
        json=INITIALIZE,
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
        timeout=20,
    )
    assert response.status_code == 200
    assert response.json()["result"]["serverInfo"]["name"] == "django-ai-assistant"


def test_a_server_failure_is_a_json_500(asgi_server, mcp_on, token):
    with connection.cursor() as cursor:  # the token table is gone: a real failure
        cursor.execute("ALTER TABLE prompts_apitoken RENAME TO prompts_apitoken_gone")
    try:
        response = post_initialize(asgi_server, {"Authorization": f"Bearer {token}"})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE prompts_apitoken_gone RENAME TO prompts_apitoken")
    error = assert_json_rpc_error(response, 500)
    assert error == {"code": -32603, "message": "Internal server error."}
