"""Reading items: the filter language, fields, sorting, paging, caps and forgiving arguments."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from assistant.tools.serialize import MAX_BYTES, dumps
from prompts.models import PromptCollection
from tests.support.tools import make_user, run

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def people(django_user_model, superuser):
    """root (the superuser calling), ann, bob and cid."""
    editors = Group.objects.create(name="Editors")
    readers = Group.objects.create(name="Readers")
    ann = make_user(
        django_user_model, "ann", email="ann@example.org", first_name="Ann", is_staff=True
    )
    bob = make_user(django_user_model, "bob", email="bob@example.com", first_name="Bob")
    cid = make_user(django_user_model, "cid", email="CID@Example.org", first_name="Cid")
    django_user_model.objects.filter(pk=ann.pk).update(
        date_joined=dt.datetime(2024, 1, 10, tzinfo=UTC),
        last_login=dt.datetime(2024, 2, 1, tzinfo=UTC),
    )
    django_user_model.objects.filter(pk=bob.pk).update(
        date_joined=dt.datetime(2024, 3, 5, tzinfo=UTC)
    )
    django_user_model.objects.filter(pk=cid.pk).update(
        date_joined=dt.datetime(2024, 6, 1, tzinfo=UTC)
    )
    ann.groups.add(editors)
    cid.groups.add(editors, readers)
    return {"root": superuser, "ann": ann, "bob": bob, "cid": cid}


def usernames(filter_, user) -> set[str]:
    payload, result = run(
        "items",
        user,
        {"action": "read", "collection": "auth.user", "fields": ["username"], "filter": filter_},
    )
    assert not result.is_error, payload
    return {item["username"] for item in payload["items"]}


FILTERS = [
    ({"username": {"_eq": "ann"}}, {"ann"}),
    ({"username": {"_neq": "ann"}}, {"bob", "cid", "root"}),
    ({"date_joined": {"_lt": "2024-03-05T00:00:00Z"}}, {"ann"}),
    ({"date_joined": {"_lte": "2024-03-05T00:00:00Z"}}, {"ann", "bob"}),
    ({"date_joined": {"_gt": "2024-03-05T00:00:00Z"}}, {"cid", "root"}),
    ({"date_joined": {"_gte": "2024-03-05T00:00:00Z"}}, {"bob", "cid", "root"}),
    ({"username": {"_in": ["ann", "cid"]}}, {"ann", "cid"}),
    ({"username": {"_nin": ["ann", "cid"]}}, {"bob", "root"}),
    ({"email": {"_contains": ".com"}}, {"bob"}),
    ({"email": {"_icontains": "EXAMPLE.ORG"}}, {"ann", "cid"}),
    ({"last_login": {"_null": True}}, {"bob", "cid", "root"}),
    ({"last_login": {"_null": False}}, {"ann"}),
    ({"_or": [{"username": {"_eq": "bob"}}, {"first_name": {"_eq": "Cid"}}]}, {"bob", "cid"}),
    (
        {"_and": [{"is_staff": {"_eq": False}}, {"email": {"_icontains": "example"}}]},
        {"bob", "cid"},
    ),
    ({"groups.name": {"_eq": "Editors"}}, {"ann", "cid"}),
    ({"groups": {"name": {"_eq": "Readers"}}}, {"cid"}),
    ({"username": "bob"}, {"bob"}),
    ({"username": ["bob", "ann"]}, {"ann", "bob"}),
    ({"email": {"_eq": None}}, set()),
    ({"date_joined": {"_gte": "2024-01-01", "_lt": "2024-04-01"}}, {"ann", "bob"}),
]


@pytest.mark.parametrize(("filter_", "expected"), FILTERS, ids=[json.dumps(f) for f, _ in FILTERS])
def test_filter_operators_select_the_right_items(people, filter_, expected):
    assert usernames(filter_, people["root"]) == expected


def test_a_to_many_filter_does_not_repeat_items(people):
    payload, _ = run(
        "items",
        people["root"],
        {
            "action": "read",
            "collection": "auth.user",
            "filter": {"groups.name": {"_in": ["Editors", "Readers"]}},
        },
    )
    assert payload["total"] == 2 and len(payload["items"]) == 2


def test_unknown_filter_field_names_the_valid_fields(people, superuser):
    payload, result = run(
        "items",
        superuser,
        {"action": "read", "collection": "auth.group", "filter": {"nme": {"_eq": "Editors"}}},
    )
    assert result.is_error
    assert (
        payload["error"]
        == "Unknown field 'nme' in auth.group. Valid fields: id, name, permissions, user."
    )


def test_unknown_field_on_a_relation_path_names_the_related_fields(people):
    payload, result = run(
        "items",
        people["root"],
        {"action": "read", "collection": "auth.user", "filter": {"groups.title": {"_eq": "x"}}},
    )
    assert result.is_error and "Unknown field 'title' in auth.group" in payload["error"]


def test_unknown_operator_lists_the_operators(people):
    payload, result = run(
        "items",
        people["root"],
        {"action": "read", "collection": "auth.user", "filter": {"username": {"_like": "a%"}}},
    )
    assert result.is_error
    assert "Unknown operator '_like'" in payload["error"] and "_icontains" in payload["error"]


def test_a_value_of_the_wrong_type_is_a_clear_error(people):
    payload, result = run(
        "items",
        people["root"],
        {
            "action": "read",
            "collection": "auth.user",
            "filter": {"date_joined": {"_gt": "yesterday"}},
        },
    )
    assert result.is_error
    assert "Invalid value 'yesterday' for 'date_joined'" in payload["error"]


def test_a_path_through_a_plain_field_is_refused(people):
    payload, result = run(
        "items",
        people["root"],
        {"action": "read", "collection": "auth.user", "filter": {"username.name": {"_eq": "x"}}},
    )
    assert result.is_error and "'username' is not a relation" in payload["error"]


def test_in_needs_an_array(people):
    payload, result = run(
        "items",
        people["root"],
        {"action": "read", "collection": "auth.user", "filter": {"id": {"_in": {"a": 1}}}},
    )
    assert result.is_error and "_in" in payload["error"]


def test_sort_descending_and_by_relation(library, superuser):
    payload, _ = run(
        "items",
        superuser,
        {
            "action": "read",
            "collection": "prompts.prompt",
            "fields": ["name"],
            "sort": ["-collection.name", "-name"],
        },
    )
    assert [item["name"] for item in payload["items"]] == ["essay", "refund", "greet", "close"]


def test_sort_by_unknown_field_is_a_clear_error(library, superuser):
    payload, result = run(
        "items", superuser, {"action": "read", "collection": "prompts.prompt", "sort": ["-rank"]}
    )
    assert result.is_error and "Unknown field 'rank'" in payload["error"]


def test_fields_follow_relations_and_always_include_the_key(library, superuser):
    payload, _ = run(
        "items",
        superuser,
        {
            "action": "read",
            "collection": "prompts.prompt",
            "fields": ["name", "collection.name"],
            "filter": {"name": {"_eq": "essay"}},
        },
    )
    assert payload["items"] == [
        {"id": library["essay"].pk, "name": "essay", "collection.name": "Writing"}
    ]


def test_default_fields_show_relations_as_keys(library, superuser):
    payload, _ = run(
        "items",
        superuser,
        {"action": "read", "collection": "prompts.prompt", "keys": [library["greet"].pk]},
    )
    item = payload["items"][0]
    assert item["collection"] == library["support"].pk
    assert item["status"] == "published"
    assert item["created_at"].startswith(str(library["greet"].created_at.date()))


def test_reverse_relations_read_as_lists_of_keys(library, superuser):
    payload, _ = run(
        "items",
        superuser,
        {
            "action": "read",
            "collection": "prompts.promptcollection",
            "fields": ["name", "prompts"],
            "sort": ["name"],
        },
    )
    assert sorted(payload["items"][0]["prompts"]) == sorted(
        [library["greet"].pk, library["refund"].pk, library["close"].pk]
    )
    assert payload["items"][1]["prompts"] == [library["essay"].pk]


def test_reverse_relation_filter(library, superuser):
    payload, _ = run(
        "items",
        superuser,
        {
            "action": "read",
            "collection": "prompts.promptcollection",
            "fields": ["name"],
            "filter": {"prompts.status": {"_eq": "draft"}},
        },
    )
    assert [item["name"] for item in payload["items"]] == ["Support"]


def test_read_caps_at_50_rows_with_a_note(superuser):
    Group.objects.bulk_create(Group(name=f"group {n:03}") for n in range(60))
    total = Group.objects.count()
    payload, result = run(
        "items", superuser, {"action": "read", "collection": "auth.group", "limit": 100}
    )
    assert not result.is_error
    assert len(payload["items"]) == 50 and payload["total"] == total
    assert "limit is at most 50" in payload["note"]
    assert "use offset=50" in payload["note"]

    payload, _ = run(
        "items", superuser, {"action": "read", "collection": "auth.group", "offset": 50}
    )
    assert len(payload["items"]) == total - 50 and "note" not in payload


def test_read_caps_at_20_kb_with_a_note(prompt_collections, superuser):
    PromptCollection.objects.bulk_create(
        PromptCollection(name=f"c{n:02}", description="x" * 2_000) for n in range(30)
    )
    payload, result = run(
        "items", superuser, {"action": "read", "collection": "prompts.promptcollection"}
    )
    assert len(result.content.encode()) <= MAX_BYTES
    assert payload["total"] == 30
    assert 0 < len(payload["items"]) < 30
    assert "20 KB" in payload["note"]


def test_one_huge_item_is_shortened_rather_than_dropped(prompt_collections, superuser):
    PromptCollection.objects.create(name="big", description="y" * 50_000)
    payload, result = run(
        "items", superuser, {"action": "read", "collection": "prompts.promptcollection"}
    )
    assert len(result.content.encode()) <= MAX_BYTES
    assert payload["items"][0]["name"] == "big"
    assert "shortened" in payload["note"]


def test_arguments_as_json_strings_are_accepted(people):
    arguments = json.dumps(
        {
            "action": "read",
            "collection": "auth.user",
            "fields": "username, email",
            "filter": json.dumps({"username": {"_in": ["ann", "bob"]}}),
            "sort": '["-username"]',
            "limit": "5",
        }
    )
    payload, result = run("items", people["root"], arguments)
    assert not result.is_error, payload
    assert [item["username"] for item in payload["items"]] == ["bob", "ann"]
    assert set(payload["items"][0]) == {"id", "username", "email"}


def test_broken_json_arguments_say_what_is_wrong(people):
    payload, result = run("items", people["root"], '{"action": "read", "collection": ')
    assert result.is_error and "Could not parse JSON" in payload["error"]


def test_unknown_collection_lists_readable_ones(library, django_user_model):
    viewer = make_user(django_user_model, "v", "prompts.view_prompt")
    payload, result = run("items", viewer, {"action": "read", "collection": "shop.product"})
    assert result.is_error
    assert (
        payload["error"]
        == "Unknown collection 'shop.product'. Collections you can read: prompts.prompt."
    )


def test_a_unique_model_name_works_as_the_collection(library, superuser):
    payload, result = run(
        "items", superuser, {"action": "read", "collection": "Prompt", "fields": ["name"]}
    )
    assert not result.is_error and payload["collection"] == "prompts.prompt"


def test_an_argument_that_does_not_fit_the_action_is_refused(library, superuser):
    payload, result = run(
        "items",
        superuser,
        {"action": "read", "collection": "prompts.prompt", "where": {"name": "greet"}},
    )
    assert result.is_error and "read does not take 'where'" in payload["error"]


def test_dates_decimals_and_uuids_serialize_cleanly():
    value = {
        "when": dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        "day": dt.date(2025, 3, 4),
        "price": Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "length": dt.timedelta(minutes=5),
    }
    assert json.loads(dumps(value)) == {
        "when": "2025-03-04T05:06:07Z",
        "day": "2025-03-04",
        "price": "12.50",
        "id": "12345678-1234-5678-1234-567812345678",
        "length": "P0DT00H05M00S",
    }


def test_a_result_too_large_outside_its_items_is_shortened_too():
    from assistant.tools.serialize import capped

    text = capped({"system_prompt": "z" * 40_000, "messages": [{"text": "hi"}]}, key="messages")
    assert len(text.encode()) <= MAX_BYTES
    payload = json.loads(text)
    assert payload["system_prompt"].endswith("more characters]") and "shortened" in payload["note"]
