"""Per-user tool modes (Always / Ask / Disabled), approvals, and the chat settings menu."""

from __future__ import annotations

import pytest
from django.urls import include, path

from assistant.models import Conversation, Message, ToolCall, ToolPreference
from assistant.tool_settings_views import tool_settings
from assistant.tools import all_tools, get_tool, tool_specs, unavailable_result
from assistant.tools.preferences import (
    enabled_tools,
    modes_for,
    needs_approval,
    set_mode,
    unused_tools,
)
from tests.support.tools import make_user

pytestmark = pytest.mark.django_db

# The lead adds this route to assistant/urls.py; this module serves it for its own tests.
urlpatterns = [
    path("assistant/tools/", tool_settings, name="tool_settings"),
    path("", include("config.urls")),
]


def test_read_only_tools_default_to_always_and_the_others_to_ask(app_user):
    assert modes_for(app_user) == {
        "schema": "always",
        "items": "ask",
        "prompts": "always",
        "ask_user": "always",
    }


def test_disabled_tools_are_not_sent_to_the_provider(app_user):
    set_mode(app_user, "items", "disabled")
    set_mode(app_user, "prompts", "disabled")
    names = [spec.name for spec in tool_specs(enabled_tools(app_user))]
    assert names == ["schema", "ask_user"]


def test_modes_are_per_user(app_user, other_app_user):
    set_mode(app_user, "items", "always")
    assert modes_for(other_app_user)["items"] == "ask"


def test_set_mode_refuses_unknown_tools_and_modes(app_user):
    with pytest.raises(ValueError, match="Unknown tool"):
        set_mode(app_user, "shell", "always")
    with pytest.raises(ValueError, match="Unknown mode"):
        set_mode(app_user, "items", "sometimes")
    assert not ToolPreference.objects.exists()


@pytest.mark.parametrize(
    ("tool", "arguments", "mode", "expected"),
    [
        ("items", {"action": "read"}, "ask", False),
        ("items", '{"action": "read"}', "ask", False),
        ("items", {"action": "delete"}, "ask", True),
        ("items", {"action": "update"}, "ask", True),
        ("items", {"action": "create"}, "ask", True),
        ("items", "garbage", "ask", True),
        ("items", {"action": "delete"}, "always", False),
        ("items", {"action": "read"}, "disabled", True),
        ("schema", {}, "ask", False),
        ("ask_user", {"questions": []}, "ask", False),
    ],
)
def test_needs_approval(tool, arguments, mode, expected):
    assert needs_approval(get_tool(tool), arguments, mode) is expected


def test_a_call_to_a_disabled_or_unknown_tool_gets_a_clear_result():
    result = unavailable_result("items")
    assert result.is_error and "enable tools in the chat settings" in result.content


def test_mcp_gets_every_tool_but_ask_user():
    from assistant.tools import server_tools

    assert [t.name for t in server_tools()] == ["schema", "items", "prompts"]
    assert [t.name for t in all_tools() if t.interactive] == ["ask_user"]


def test_every_tool_describes_itself_for_a_model():
    for tool in all_tools():
        assert tool.description and tool.label
        assert tool.parameters["type"] == "object"


def _chat(user, *tool_names: str) -> None:
    conversation = Conversation.objects.create(user=user)
    Message.objects.create(conversation=conversation, role="user", content="hi")
    reply = Message.objects.create(conversation=conversation, role="assistant")
    for n, name in enumerate(tool_names):
        ToolCall.objects.create(message=reply, call_id=f"c{n}", name=name, status="done")


def test_unused_tools_are_suggested_only_to_users_who_chat(app_user):
    assert unused_tools(app_user) == []
    _chat(app_user, "schema", "items")
    assert [t.name for t in unused_tools(app_user)] == ["prompts", "ask_user"]
    set_mode(app_user, "prompts", "disabled")
    assert [t.name for t in unused_tools(app_user)] == ["ask_user"]


@pytest.mark.urls(__name__)
def test_settings_menu_shows_each_tool_with_its_mode_and_suggestions(client, app_user):
    _chat(app_user, "schema", "items", "ask_user")
    client.force_login(app_user)
    response = client.get("/assistant/tools/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the partial for htmx
    assert 'name="mode-items" value="ask" checked' in html
    assert 'name="mode-schema" value="always" checked' in html
    assert 'name="mode-ask_user" value="ask"' not in html  # nothing to approve for questions
    assert "You have not used <strong>Prompts</strong>" in html


@pytest.mark.urls(__name__)
def test_saving_modes_from_the_menu(client, app_user):
    client.force_login(app_user)
    response = client.post(
        "/assistant/tools/",
        {"mode-items": "always", "mode-prompts": "disabled"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Saved." in response.content.decode()
    assert modes_for(app_user)["items"] == "always"
    assert "prompts" not in [t.name for t in enabled_tools(app_user)]


@pytest.mark.urls(__name__)
def test_a_plain_form_post_redirects_back(client, app_user):
    client.force_login(app_user)
    response = client.post("/assistant/tools/", {"mode-items": "disabled", "next": "/assistant/"})
    assert response.status_code == 302 and response["Location"] == "/assistant/"
    response = client.post(
        "/assistant/tools/", {"mode-items": "ask", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/assistant/tools/"


@pytest.mark.urls(__name__)
def test_an_invalid_mode_changes_nothing(client, app_user):
    client.force_login(app_user)
    response = client.post(
        "/assistant/tools/",
        {"mode-schema": "disabled", "mode-items": "maybe"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "is not a mode for Items" in response.content.decode()
    assert modes_for(app_user)["schema"] == "always"


@pytest.mark.urls(__name__)
def test_the_menu_needs_app_access(client, django_user_model):
    client.force_login(make_user(django_user_model, "api-only-2"))
    assert client.get("/assistant/tools/").status_code == 403


@pytest.mark.urls(__name__)
def test_without_htmx_the_menu_is_a_full_page(client, app_user):
    client.force_login(app_user)
    response = client.get("/assistant/tools/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Chat settings</h1>" in html and 'id="tool-settings"' in html
