"""Every tool call runs with the chatting user's own Django model permissions."""

from __future__ import annotations

import json

import pytest

from ai_settings.current import bump_version
from ai_settings.models import AISettings
from prompts.models import Prompt, PromptCollection
from tests.support.tools import make_user, preview, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model):
    return make_user(
        django_user_model, "viewer", "prompts.view_prompt", "prompts.view_promptcollection"
    )


@pytest.fixture
def deleter(django_user_model):
    return make_user(
        django_user_model,
        "deleter",
        "prompts.view_prompt",
        "prompts.delete_prompt",
        "prompts.view_promptcollection",
        "prompts.delete_promptcollection",
    )


def test_view_only_user_asking_to_delete_is_denied_and_nothing_changes(viewer, library):
    payload, result = run(
        "items",
        viewer,
        {"action": "delete", "collection": "prompts.prompt", "keys": [library["greet"].pk]},
    )
    assert result.is_error
    assert payload["error"].startswith("Permission denied")
    assert "delete" in payload["error"] and "prompts.prompt" in payload["error"]
    assert Prompt.objects.filter(pk=library["greet"].pk).exists()


def test_view_only_delete_sent_as_a_json_string_is_denied_too(viewer, library):
    arguments = json.dumps(
        {
            "action": "delete",
            "collection": "prompts.prompt",
            "keys": json.dumps([library["greet"].pk, library["essay"].pk]),
        }
    )
    payload, result = run("items", viewer, arguments)
    assert result.is_error and payload["kind"] == "permission_denied"
    assert Prompt.objects.count() == 4


def test_denied_delete_preview_carries_the_error_so_no_approval_card_is_needed(viewer, library):
    card = preview(
        "items",
        viewer,
        {"action": "delete", "collection": "prompts.prompt", "keys": [library["greet"].pk]},
    )
    assert card.error.startswith("Permission denied")
    assert card.affected_count == 0


def test_user_without_view_permission_gets_no_data(django_user_model, library):
    nobody = make_user(django_user_model, "nobody")
    payload, result = run("items", nobody, {"action": "read", "collection": "prompts.prompt"})
    assert result.is_error and payload["kind"] == "permission_denied"
    assert "greet" not in result.content and "items" not in payload


def test_change_permission_implies_read_as_in_django_admin(django_user_model, library):
    editor = make_user(django_user_model, "editor", "prompts.change_prompt")
    payload, result = run(
        "items", editor, {"action": "read", "collection": "prompts.prompt", "fields": ["name"]}
    )
    assert not result.is_error
    assert {item["name"] for item in payload["items"]} == {"greet", "refund", "close", "essay"}


def test_schema_lists_only_collections_the_user_may_read_with_their_actions(viewer, library):
    payload, _ = run("schema", viewer, {})
    keys = {c["collection"]: c for c in payload["collections"]}
    assert set(keys) == {"prompts.prompt", "prompts.promptcollection"}
    assert keys["prompts.prompt"]["actions"] == ["read"]


def test_delete_preview_counts_the_items_and_the_cascade(deleter, library):
    card = preview(
        "items",
        deleter,
        {
            "action": "delete",
            "collection": "prompts.promptcollection",
            "keys": [library["support"].pk],
        },
    )
    assert card.error == ""
    assert card.affected_count == 1
    assert "Delete 1 item from Prompt collections (prompts.promptcollection)" in card.summary
    assert "Also deletes 3 prompts" in card.summary
    assert card.details["also_deletes"] == {"prompts": 3}
    assert PromptCollection.objects.filter(pk=library["support"].pk).exists()  # preview only


def test_delete_preview_counts_only_existing_keys(deleter, library):
    card = preview(
        "items",
        deleter,
        {
            "action": "delete",
            "collection": "prompts.prompt",
            "keys": [library["greet"].pk, library["essay"].pk, 999999],
        },
    )
    assert card.affected_count == 2
    assert card.details["not_found"] == [999999]


def test_user_with_delete_permission_deletes_the_items(deleter, library):
    payload, result = run(
        "items",
        deleter,
        {
            "action": "delete",
            "collection": "prompts.prompt",
            "keys": [library["greet"].pk, library["essay"].pk],
        },
    )
    assert not result.is_error
    assert payload["deleted"] == 2
    assert set(Prompt.objects.values_list("name", flat=True)) == {"refund", "close"}


def test_delete_refused_when_the_cascade_reaches_items_the_user_may_not_delete(
    django_user_model, library
):
    user = make_user(
        django_user_model,
        "collections-only",
        "prompts.view_promptcollection",
        "prompts.delete_promptcollection",
    )
    payload, result = run(
        "items",
        user,
        {
            "action": "delete",
            "collection": "prompts.promptcollection",
            "keys": [library["support"].pk],
        },
    )
    assert result.is_error and payload["kind"] == "permission_denied"
    assert "would also delete 3 prompts" in payload["error"]
    assert PromptCollection.objects.count() == 2 and Prompt.objects.count() == 4


def test_deleting_a_collection_with_permission_takes_its_prompts_along(deleter, library):
    payload, result = run(
        "items",
        deleter,
        {
            "action": "delete",
            "collection": "prompts.promptcollection",
            "keys": [library["support"].pk],
        },
    )
    assert not result.is_error
    assert payload["also_deleted"] == {"prompts": 3}
    assert list(Prompt.objects.values_list("name", flat=True)) == ["essay"]


def test_delete_needs_keys_not_a_filter(deleter, library):
    payload, result = run(
        "items",
        deleter,
        {
            "action": "delete",
            "collection": "prompts.prompt",
            "filter": {"status": {"_eq": "draft"}},
        },
    )
    assert result.is_error
    assert "does not take 'filter'" in payload["error"]
    assert Prompt.objects.count() == 4


def _set_mcp_deletes(allowed: bool) -> None:
    settings_row = AISettings.load()
    settings_row.mcp_allow_deletes = allowed
    settings_row.save()
    bump_version()


def test_deletes_through_mcp_are_refused_until_allowed_even_for_a_superuser(superuser, library):
    arguments = {"action": "delete", "collection": "prompts.prompt", "keys": [library["greet"].pk]}
    payload, result = run("items", superuser, arguments, via_mcp=True)
    assert result.is_error and "Allow deletes via MCP" in payload["error"]
    assert Prompt.objects.filter(pk=library["greet"].pk).exists()

    _set_mcp_deletes(True)
    payload, result = run("items", superuser, arguments, via_mcp=True)
    assert not result.is_error and payload["deleted"] == 1


def test_mcp_reads_run_with_the_token_owners_permissions(django_user_model, library):
    nobody = make_user(django_user_model, "nobody")
    payload, result = run(
        "items", nobody, {"action": "read", "collection": "prompts.prompt"}, via_mcp=True
    )
    assert result.is_error and payload["kind"] == "permission_denied"


def test_inactive_user_has_no_permissions(django_user_model, library):
    user = make_user(django_user_model, "gone", "prompts.view_prompt", is_active=False)
    _, result = run("items", user, {"action": "read", "collection": "prompts.prompt"})
    assert result.is_error


def test_following_a_relation_needs_read_permission_on_the_related_collection(
    django_user_model, library
):
    user = make_user(django_user_model, "prompts-only", "prompts.view_prompt")
    payload, result = run(
        "items",
        user,
        {
            "action": "read",
            "collection": "prompts.prompt",
            "filter": {"collection.name": {"_eq": "Support"}},
        },
    )
    assert result.is_error and payload["kind"] == "permission_denied"
    assert "prompts.promptcollection" in payload["error"]
