"""Prompts in Django admin: staff create prompts with messages inline, placeholder syntax is
checked with positions, authorship is recorded, and a preview renders sample values."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from prompts.examples import EXAMPLES, create_example_collection
from prompts.models import ApiToken, Prompt, PromptCollection, PromptMessage
from prompts.rendering import syntax_errors, variables
from prompts.tokens import create_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(staff_user):
    """Staff with the prompts permissions (what a site would give its prompt editors)."""
    staff_user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="prompts").exclude(
            codename__endswith="apitoken"
        )
    )
    return staff_user


@pytest.fixture
def collection(db) -> PromptCollection:
    return PromptCollection.objects.create(name="Team prompts")


def prompt_form_data(collection, messages, **fields) -> dict[str, str]:
    data = {
        "collection": str(collection.pk),
        "name": "summarize",
        "status": "published",
        "description": "",
        "system_prompt": "You write for {{ audience: Who reads it }}.",
        "messages-TOTAL_FORMS": str(len(messages)),
        "messages-INITIAL_FORMS": "0",
        "messages-MIN_NUM_FORMS": "0",
        "messages-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, (position, role, text) in enumerate(messages):
        data[f"messages-{index}-position"] = position
        data[f"messages-{index}-role"] = role
        data[f"messages-{index}-text"] = text
    return data


def test_staff_creates_a_prompt_with_messages_inline(client, editor, collection):
    client.force_login(editor)
    data = prompt_form_data(
        collection,
        [("", "user", "Summarize {{ record }}."), ("", "assistant", "Summary:")],
    )
    response = client.post(reverse("admin:prompts_prompt_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    prompt = Prompt.objects.get(name="summarize")
    assert [(m.position, m.role, m.text) for m in prompt.messages.all()] == [
        (1, "user", "Summarize {{ record }}."),
        (2, "assistant", "Summary:"),
    ]
    assert [v.name for v in variables(prompt)] == ["audience", "record"]
    assert prompt.created_by == editor and prompt.updated_by == editor


def test_typed_order_decides_message_order(client, editor, collection):
    client.force_login(editor)
    data = prompt_form_data(collection, [("2", "user", "second"), ("1", "user", "first")])
    client.post(reverse("admin:prompts_prompt_add"), data)
    assert [m.text for m in Prompt.objects.get().messages.all()] == ["first", "second"]


def test_unclosed_placeholder_in_system_prompt_is_a_field_error_with_position(
    client, editor, collection
):
    client.force_login(editor)
    data = prompt_form_data(collection, [], system_prompt="Line one\nWrite for {{ audience")
    response = client.post(reverse("admin:prompts_prompt_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["system_prompt"]
    assert errors == ["Unclosed “{{” at line 2, column 11."]
    assert "Unclosed “{{” at line 2, column 11." in response.text
    assert not Prompt.objects.exists()


def test_unclosed_placeholder_in_a_message_is_refused(client, editor, collection):
    client.force_login(editor)
    data = prompt_form_data(collection, [("", "user", "Tell me about {{ topic")])
    response = client.post(reverse("admin:prompts_prompt_add"), data)
    assert response.status_code == 200
    assert "Unclosed “{{” at line 1, column 15." in response.text
    assert not Prompt.objects.exists()


def test_editing_records_who_changed_the_prompt(client, editor, superuser, collection):
    prompt = Prompt.objects.create(collection=collection, name="p", created_by=superuser)
    client.force_login(editor)
    data = prompt_form_data(collection, [], name="p", system_prompt="Changed.")
    response = client.post(reverse("admin:prompts_prompt_change", args=[prompt.pk]), data)
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert (prompt.created_by, prompt.updated_by) == (superuser, editor)


def test_change_page_previews_the_prompt_with_sample_values(client, editor, collection):
    prompt = Prompt.objects.create(
        collection=collection, name="p", system_prompt="For {{ audience: Readers }}."
    )
    PromptMessage.objects.create(prompt=prompt, role="user", text="Explain {{ topic }}.")
    client.force_login(editor)
    response = client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
    assert "For &lt;audience&gt;." in response.text
    assert "Explain &lt;topic&gt;." in response.text
    assert "(Readers)" in response.text


def test_prompt_list_filters_by_status_and_collection_and_searches_messages(
    client, editor, collection
):
    other = PromptCollection.objects.create(name="Other")
    live = Prompt.objects.create(collection=collection, name="live", status="published")
    PromptMessage.objects.create(prompt=live, text="about invoices")
    Prompt.objects.create(collection=collection, name="draft-one")
    Prompt.objects.create(collection=other, name="elsewhere", status="published")
    client.force_login(editor)
    url = reverse("admin:prompts_prompt_changelist")

    def names(**query) -> list[str]:
        response = client.get(url, query)
        return sorted(p.name for p in response.context["cl"].result_list)

    assert names(status__exact="published") == ["elsewhere", "live"]
    assert names(collection__id__exact=other.pk) == ["elsewhere"]
    assert names(q="invoices") == ["live"]


def test_staff_without_prompt_permissions_cannot_open_the_prompt_admin(client, staff_user):
    client.force_login(staff_user)
    assert client.get(reverse("admin:prompts_prompt_add")).status_code == 403


def test_example_collections_get_unique_names_and_published_prompts_with_variables():
    first = create_example_collection()
    second = create_example_collection()
    assert (first.name, second.name) == ("Example prompts", "Example prompts 2")
    prompts = list(second.prompts.all())
    assert len(prompts) == 3
    assert all(p.status == Prompt.Status.PUBLISHED for p in prompts)
    assert all(variables(p) for p in prompts)


def test_example_prompts_have_valid_placeholders():
    for example in EXAMPLES:
        for text in (example.system_prompt, *(text for _, text in example.messages)):
            assert syntax_errors(text) == []


def test_superuser_revokes_a_leaked_token_in_admin(client, superuser, app_user):
    token, _ = create_token(app_user, "leaked")
    client.force_login(superuser)
    response = client.post(
        reverse("admin:prompts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.text
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.objects.get().token_hash not in response.text
