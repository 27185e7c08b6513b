"""Creating and updating items: validated against the model, all or nothing, clear errors."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission

from prompts.models import Prompt
from tests.support.tools import group_names, make_user, preview, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def group_admin(django_user_model):
    return make_user(
        django_user_model, "group-admin", "auth.view_group", "auth.add_group", "auth.change_group"
    )


@pytest.fixture
def prompt_editor(django_user_model):
    return make_user(
        django_user_model,
        "prompt-editor",
        "prompts.view_prompt",
        "prompts.add_prompt",
        "prompts.change_prompt",
        "prompts.view_promptcollection",
    )


def test_create_one_item(group_admin):
    payload, result = run(
        "items",
        group_admin,
        {"action": "create", "collection": "auth.group", "data": {"name": "Editors"}},
    )
    assert not result.is_error
    assert payload["created"] == 1
    assert payload["items"][0]["name"] == "Editors"
    assert Group.objects.filter(pk=payload["keys"][0], name="Editors").exists()


def test_create_several_items_with_a_many_to_many_relation(group_admin):
    perm = Permission.objects.get(codename="view_group")
    payload, result = run(
        "items",
        group_admin,
        {
            "action": "create",
            "collection": "auth.group",
            "data": [{"name": "A"}, {"name": "B", "permissions": [perm.pk]}],
        },
    )
    assert not result.is_error, payload
    assert payload["created"] == 2
    assert list(Group.objects.get(name="B").permissions.all()) == [perm]


def test_create_without_add_permission_is_denied(django_user_model):
    viewer = make_user(django_user_model, "viewer", "auth.view_group")
    payload, result = run(
        "items", viewer, {"action": "create", "collection": "auth.group", "data": {"name": "X"}}
    )
    assert result.is_error and payload["error"].startswith("Permission denied")
    assert "X" not in group_names()


def test_create_validation_errors_name_each_item_and_field_and_nothing_is_created(group_admin):
    Group.objects.create(name="Taken")
    payload, result = run(
        "items",
        group_admin,
        {
            "action": "create",
            "collection": "auth.group",
            "data": [{"name": "Fresh"}, {"name": "Taken"}, {"name": ""}],
        },
    )
    assert result.is_error
    assert payload["error"].startswith("Nothing was created: validation failed")
    assert payload["errors"]["item 1"] == {"name": ["Group with this Name already exists."]}
    assert payload["errors"]["item 2"] == {"name": ["This field cannot be blank."]}
    assert "Fresh" not in group_names()


def test_create_reports_missing_required_fields(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        {"action": "create", "collection": "prompts.prompt", "data": {"description": "no name"}},
    )
    assert result.is_error
    errors = payload["errors"]["item 0"]
    assert errors["collection"] == ["This field cannot be null."]
    assert errors["name"] == ["This field cannot be blank."]


def test_create_checks_choices_and_relations(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        {
            "action": "create",
            "collection": "prompts.prompt",
            "data": {"name": "new", "collection": 99999, "status": "live"},
        },
    )
    assert result.is_error
    errors = payload["errors"]["item 0"]
    assert "99999" in errors["collection"][0]
    assert errors["status"] == ["Value 'live' is not a valid choice."]


def test_create_with_an_unknown_field_names_the_valid_fields(group_admin):
    payload, result = run(
        "items",
        group_admin,
        {"action": "create", "collection": "auth.group", "data": {"title": "X"}},
    )
    assert result.is_error
    assert (
        payload["error"]
        == "Unknown field 'title' in auth.group. Valid fields: id, name, permissions."
    )


def test_create_refuses_read_only_fields(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        {
            "action": "create",
            "collection": "prompts.prompt",
            "data": {
                "name": "x",
                "collection": library["support"].pk,
                "created_at": "2020-01-01T00:00:00Z",
            },
        },
    )
    assert result.is_error and "'created_at' in prompts.prompt is read-only" in payload["error"]


def test_create_converts_values_and_accepts_data_as_a_json_string(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        json.dumps(
            {
                "action": "create",
                "collection": "prompts.prompt",
                "data": json.dumps(
                    {
                        "name": "from-json",
                        "collection": str(library["writing"].pk),
                        "status": "published",
                    }
                ),
            }
        ),
    )
    assert not result.is_error, payload
    created = Prompt.objects.get(name="from-json")
    assert created.collection == library["writing"] and created.status == "published"


def test_update_by_keys(prompt_editor, library):
    keys = [library["refund"].pk, library["close"].pk]
    payload, result = run(
        "items",
        prompt_editor,
        {
            "action": "update",
            "collection": "prompts.prompt",
            "keys": keys,
            "data": {"status": "published"},
        },
    )
    assert not result.is_error
    assert payload["updated"] == 2 and sorted(payload["keys"]) == sorted(keys)
    assert set(Prompt.objects.filter(status="published").values_list("name", flat=True)) == {
        "greet",
        "essay",
        "refund",
        "close",
    }


def test_update_by_filter_and_its_preview_counts_the_matches(prompt_editor, library):
    arguments = {
        "action": "update",
        "collection": "prompts.prompt",
        "filter": {"collection.name": {"_eq": "Support"}, "status": {"_neq": "published"}},
        "data": {"description": "Needs review"},
    }
    card = preview("items", prompt_editor, arguments)
    assert card.error == "" and card.affected_count == 2
    assert card.summary.startswith("Update 2 items in Prompts (prompts.prompt) matching")
    assert 'set description = "Needs review"' in card.summary
    assert Prompt.objects.filter(description="Needs review").count() == 0  # preview changes nothing

    payload, result = run("items", prompt_editor, arguments)
    assert not result.is_error and payload["updated"] == 2
    assert set(
        Prompt.objects.filter(description="Needs review").values_list("name", flat=True)
    ) == {"refund", "close"}


def test_update_with_per_item_data(prompt_editor, library):
    data = [
        {"id": library["greet"].pk, "description": "Hello"},
        {"id": library["essay"].pk, "status": "draft"},
    ]
    payload, result = run(
        "items", prompt_editor, {"action": "update", "collection": "prompts.prompt", "data": data}
    )
    assert not result.is_error, payload
    assert Prompt.objects.get(pk=library["greet"].pk).description == "Hello"
    assert Prompt.objects.get(pk=library["essay"].pk).status == "draft"


def test_update_needs_keys_or_a_filter(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        {"action": "update", "collection": "prompts.prompt", "data": {"status": "archived"}},
    )
    assert result.is_error and "needs `keys` or a `filter`" in payload["error"]
    assert not Prompt.objects.filter(status="archived").exclude(name="close").exists()


def test_update_validation_error_changes_nothing(prompt_editor, library):
    keys = [library["greet"].pk, library["refund"].pk]
    payload, result = run(
        "items",
        prompt_editor,
        {
            "action": "update",
            "collection": "prompts.prompt",
            "keys": keys,
            "data": {"name": "same"},
        },
    )
    assert result.is_error
    assert "Nothing was updated" in payload["error"]
    assert any(
        "already exists" in " ".join(msgs)
        for msgs in payload["errors"][f"key {library['refund'].pk}"].values()
    )
    assert set(Prompt.objects.values_list("name", flat=True)) == {
        "greet",
        "refund",
        "close",
        "essay",
    }


def test_update_cannot_change_the_primary_key(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        {
            "action": "update",
            "collection": "prompts.prompt",
            "keys": [library["greet"].pk],
            "data": {"id": 12345},
        },
    )
    assert result.is_error and "primary key" in payload["error"]


def test_update_reports_keys_not_found(prompt_editor, library):
    payload, result = run(
        "items",
        prompt_editor,
        {
            "action": "update",
            "collection": "prompts.prompt",
            "keys": [library["greet"].pk, 424242],
            "data": {"description": "x"},
        },
    )
    assert not result.is_error
    assert payload["updated"] == 1 and payload["not_found"] == [424242]


def test_update_without_change_permission_is_denied(django_user_model, library):
    viewer = make_user(django_user_model, "viewer", "prompts.view_prompt")
    payload, result = run(
        "items",
        viewer,
        {
            "action": "update",
            "collection": "prompts.prompt",
            "keys": [library["greet"].pk],
            "data": {"description": "x"},
        },
    )
    assert result.is_error and payload["kind"] == "permission_denied"
    assert Prompt.objects.get(pk=library["greet"].pk).description == ""


def test_create_preview_shows_the_values(group_admin):
    card = preview(
        "items",
        group_admin,
        {"action": "create", "collection": "auth.group", "data": {"name": "Ops"}},
    )
    assert card.summary == 'Create 1 item in Groups (auth.group): name = "Ops"'
    assert card.affected_count == 1 and card.details["data"] == [{"name": "Ops"}]
    assert "Ops" not in group_names()


def test_write_preview_of_an_invalid_call_carries_the_error(group_admin):
    card = preview(
        "items", group_admin, {"action": "create", "collection": "auth.group", "data": {"nope": 1}}
    )
    assert "Unknown field 'nope'" in card.error


def test_items_reads_only_for_read_calls():
    from assistant.tools import get_tool

    items = get_tool("items")
    assert items.reads_only({"action": "read"}) and items.reads_only('{"action": "READ"}')
    assert not items.reads_only({"action": "delete"}) and not items.reads_only("not json")


def test_update_preview_of_a_filter_matching_nothing_has_nothing_to_approve(prompt_editor, library):
    card = preview(
        "items",
        prompt_editor,
        {
            "action": "update",
            "collection": "prompts.prompt",
            "filter": {"name": {"_eq": "nope"}},
            "data": {"description": "x"},
        },
    )
    assert card.affected_count == 0 and card.error == "No items match, so nothing would change."
