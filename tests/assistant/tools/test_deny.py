"""The deny list holds whoever asks: superusers and MCP clients never see secrets, even when
the models holding them are registered in Django admin."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.models import Session

from ai_settings.fields import SecretField
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider, SettingsAuditEntry
from assistant.models import Conversation, ToolCall, ToolPreference
from assistant.tools import deny
from prompts.models import ApiToken
from tests.support.tools import registered, run

pytestmark = pytest.mark.django_db

SECRET = "sk-" + "test-SECRET-never-shown-1234"
HIDDEN = [
    Session,
    AISettings,
    CompatibleProvider,
    CompatibleModel,
    SettingsAuditEntry,
    ApiToken,
    LogEntry,
    Conversation,
    ToolCall,
    ToolPreference,
]


@pytest.fixture
def secrets(superuser):
    """Secrets in every hidden model, all of them registered in admin for the test."""
    settings_row = AISettings.load()
    settings_row.openai_api_key = SECRET
    settings_row.save()
    provider = CompatibleProvider.objects.create(
        name="Local",
        base_url="http://127.0.0.1:1/v1",
        api_key=SECRET,
        custom_headers=json.dumps({"X-Key": SECRET}),
    )
    CompatibleModel.objects.create(provider=provider, model_id="m")
    ApiToken.objects.create(
        user=superuser, name="laptop", token_hash=ApiToken.hash(SECRET), prefix="sk-" + "test"
    )
    with registered(*HIDDEN):
        yield


@pytest.mark.parametrize("via_mcp", [False, True], ids=["chat", "mcp"])
def test_schema_never_lists_hidden_models_for_a_superuser(secrets, superuser, via_mcp):
    payload, _ = run("schema", superuser, {}, via_mcp=via_mcp)
    keys = {c["collection"] for c in payload["collections"]}
    assert "auth.user" in keys
    for model in HIDDEN:
        assert deny.model_key(model) not in keys


@pytest.mark.parametrize("model", HIDDEN, ids=deny.model_key)
@pytest.mark.parametrize("action", ["read", "delete"])
def test_items_refuses_hidden_models_for_a_superuser(secrets, superuser, model, action):
    arguments = {"action": action, "collection": deny.model_key(model)}
    if action == "delete":
        arguments["keys"] = [1]
    payload, result = run("items", superuser, arguments, via_mcp=False)
    assert result.is_error
    assert payload["error"].startswith(f"Unknown collection '{deny.model_key(model)}'")
    assert SECRET not in result.content and ApiToken.hash(SECRET) not in result.content
    assert AISettings.load().openai_api_key == SECRET and CompatibleProvider.objects.exists()


def test_schema_with_keys_refuses_hidden_models(secrets, superuser):
    payload, result = run("schema", superuser, {"keys": ["ai_settings.compatibleprovider"]})
    assert result.is_error and "Unknown collection" in payload["error"]


def test_user_model_is_usable_but_its_password_never_appears(secrets, superuser):
    payload, result = run("items", superuser, {"action": "read", "collection": "auth.user"})
    assert not result.is_error
    assert payload["items"][0]["username"] == "root"
    assert "password" not in payload["items"][0]
    assert superuser.password not in result.content

    schema, _ = run("schema", superuser, {"keys": ["auth.user"]})
    assert "password" not in [f["name"] for f in schema["collections"][0]["fields"]]


@pytest.mark.parametrize(
    "arguments",
    [
        {"action": "read", "collection": "auth.user", "fields": ["username", "password"]},
        {
            "action": "read",
            "collection": "auth.user",
            "filter": {"password": {"_contains": "pbkdf2"}},
        },
        {"action": "read", "collection": "auth.user", "sort": ["password"]},
        {
            "action": "create",
            "collection": "auth.user",
            "data": {"username": "eve", "password": "x"},
        },
        {"action": "update", "collection": "auth.user", "keys": [1], "data": {"password": "x"}},
    ],
    ids=["fields", "filter", "sort", "create", "update"],
)
def test_password_field_is_unknown_everywhere(secrets, superuser, arguments):
    payload, result = run("items", superuser, arguments)
    assert result.is_error
    assert "Unknown field 'password'" in payload["error"]
    assert "password" not in payload["valid_fields"]


def test_relations_into_hidden_models_cannot_be_followed(secrets, superuser):
    payload, result = run(
        "items",
        superuser,
        {
            "action": "read",
            "collection": "auth.user",
            "filter": {"api_tokens.token_hash": {"_null": False}},
        },
    )
    assert result.is_error and "Unknown field 'api_tokens'" in payload["error"]


def test_a_user_created_through_the_tool_cannot_log_in(superuser, django_user_model):
    payload, result = run(
        "items",
        superuser,
        {
            "action": "create",
            "collection": "auth.user",
            "data": {"username": "eve", "email": "eve@example.org"},
        },
    )
    assert not result.is_error, payload
    assert not django_user_model.objects.get(username="eve").has_usable_password()


def test_encrypted_fields_are_hidden_on_any_model():
    field = SecretField()
    field.name = "anything"
    assert deny.is_hidden_field(AbstractBaseUser, field)
    assert deny.is_hidden_field(CompatibleProvider, CompatibleProvider._meta.get_field("api_key"))
