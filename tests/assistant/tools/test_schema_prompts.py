"""The `schema` and `prompts` tools."""

from __future__ import annotations

import pytest

from ai_settings.current import bump_version
from ai_settings.models import AISettings
from prompts.models import PromptMessage
from tests.support.tools import make_user, run

pytestmark = pytest.mark.django_db


def _field(description: dict, name: str) -> dict:
    return next(f for f in description["fields"] if f["name"] == name)


def test_schema_without_keys_lists_collections_with_field_counts(library, superuser):
    payload, _ = run("schema", superuser, {})
    by_key = {c["collection"]: c for c in payload["collections"]}
    assert by_key["auth.group"] == {
        "collection": "auth.group",
        "name": "Groups",
        "fields": 3,
        "actions": ["read", "create", "update", "delete"],
    }
    assert by_key["prompts.prompt"]["name"] == "Prompts"


def test_schema_with_keys_describes_fields_and_relations(library, superuser):
    payload, result = run(
        "schema", superuser, {"keys": ["prompts.prompt", "prompts.promptcollection"]}
    )
    assert not result.is_error
    prompt, collection = payload["collections"]
    assert prompt["primary_key"] == "id"
    assert _field(prompt, "id") == {
        "name": "id",
        "type": "integer",
        "required": False,
        "primary_key": True,
        "read_only": True,
    }
    assert _field(prompt, "name") == {
        "name": "name",
        "type": "slug",
        "required": True,
        "max_length": 100,
        "help": "Unique in its collection, e.g. summarize-page.",
    }
    assert _field(prompt, "status")["choices"] == ["published", "draft", "archived"]
    assert _field(prompt, "collection")["type"] == "many-to-one → prompts.promptcollection"
    assert _field(prompt, "created_at")["read_only"] is True
    assert {"field": "created_by", "kind": "many-to-one", "collection": "auth.user"} in prompt[
        "relations"
    ]
    assert {
        "field": "prompts",
        "kind": "one-to-many",
        "collection": "prompts.prompt",
        "via": "collection",
    } in collection["relations"]


def test_schema_with_an_unknown_key_is_a_clear_error(library, superuser):
    payload, result = run("schema", superuser, {"keys": ["shop.product"]})
    assert result.is_error and payload["error"].startswith("Unknown collection 'shop.product'")


def test_schema_keys_the_user_may_not_read_are_denied(library, django_user_model):
    viewer = make_user(django_user_model, "v", "prompts.view_prompt")
    payload, result = run("schema", viewer, {"keys": "prompts.prompt, auth.group"})
    assert not result.is_error
    assert [c["collection"] for c in payload["collections"]] == ["prompts.prompt"]
    assert payload["errors"] == [
        "Permission denied: you may not read items in Groups (auth.group)."
    ]


def _activate(collection) -> None:
    row = AISettings.load()
    row.prompts_collection = collection
    row.save()
    bump_version()


def test_prompts_without_an_active_collection_says_so(library, app_user):
    payload, result = run("prompts", app_user, {})
    assert result.is_error and "No prompts collection is active" in payload["error"]


def test_prompts_lists_only_published_prompts_of_the_active_collection(library, app_user):
    _activate(library["support"])
    library["greet"].system_prompt = "Greet {{ customer: their first name }} warmly."
    library["greet"].save()
    payload, result = run("prompts", app_user, {})
    assert not result.is_error
    assert payload["prompts"] == [
        {
            "name": "greet",
            "description": "",
            "variables": [{"name": "customer", "description": "their first name"}],
        }
    ]


def test_prompts_reads_one_prompt_and_fills_its_variables(library, app_user):
    _activate(library["support"])
    greet = library["greet"]
    greet.system_prompt = "Greet {{ customer }}."
    greet.save()
    PromptMessage.objects.create(
        prompt=greet, position=0, role="user", text="Say hi to {{ customer }}"
    )

    payload, _ = run("prompts", app_user, {"name": "greet"})
    assert payload["system_prompt"] == "Greet {{ customer }}."
    assert payload["messages"] == [{"role": "user", "text": "Say hi to {{ customer }}"}]

    payload, _ = run("prompts", app_user, {"name": "greet", "variables": {"customer": "Ada"}})
    assert payload["system_prompt"] == "Greet Ada."
    assert payload["messages"] == [{"role": "user", "text": "Say hi to Ada"}]

    payload, result = run("prompts", app_user, {"name": "greet", "variables": {}})
    assert result.is_error and "customer" in payload["error"]


def test_prompts_never_shows_drafts(library, app_user):
    _activate(library["support"])
    payload, result = run("prompts", app_user, {"name": "refund"})
    assert result.is_error and "no published prompt named" in payload["error"]
