"""The API tokens page: any signed-in user creates, lists and revokes their own tokens; the
token is shown once and stored hashed. Also the nav link and the chat's picker partials."""

from __future__ import annotations

import itertools
import re

import pytest
from django.urls import reverse

from ai_settings.models import AISettings
from prompts.models import ApiToken, Prompt, PromptCollection, PromptMessage
from prompts.tokens import create_token

pytestmark = pytest.mark.django_db

TOKENS_URL = "/prompts/tokens/"


def shown_token(html: str) -> str:
    match = re.search(r'id="new-token" value="([^"]+)"', html)
    assert match, "the new token is not on the page"
    return match.group(1)


def test_api_only_account_creates_a_token_shown_once_and_stored_hashed(client, api_only_user):
    client.force_login(api_only_user)
    response = client.post(TOKENS_URL, {"name": "Claude Desktop"})
    assert response.status_code == 200
    raw = shown_token(response.text)
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (api_only_user, "Claude Desktop")
    assert token.token_hash == ApiToken.hash(raw) and raw not in token.token_hash
    assert raw.startswith(token.prefix)
    assert "no-store" in response["Cache-Control"]
    again = client.get(TOKENS_URL)
    assert raw not in again.text
    assert f"{token.prefix}…" in again.text and "Never" in again.text


def test_blank_name_is_refused_and_nothing_is_created(client, app_user):
    client.force_login(app_user)
    response = client.post(TOKENS_URL, {"name": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not ApiToken.objects.exists()


def test_duplicate_active_name_is_refused(client, app_user):
    create_token(app_user, "laptop")
    client.force_login(app_user)
    response = client.post(TOKENS_URL, {"name": "laptop"})
    assert response.status_code == 400
    assert "You already have an active token with this name." in response.text
    assert ApiToken.objects.count() == 1


def test_revoking_marks_the_token_revoked(client, app_user):
    token, _ = create_token(app_user, "laptop")
    client.force_login(app_user)
    response = client.post(reverse("prompts:revoke_token", args=[token.pk]), follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Token revoked" in response.text
    assert "Revoked" in response.text


def test_users_cannot_see_or_revoke_each_others_tokens(client, app_user, other_app_user):
    token, _ = create_token(other_app_user, "theirs")
    client.force_login(app_user)
    assert "theirs" not in client.get(TOKENS_URL).text
    response = client.post(reverse("prompts:revoke_token", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_tokens_page_needs_sign_in(client):
    response = client.get(TOKENS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_tokens_page_is_404_when_ai_is_disabled(client, app_user, settings):
    settings.AI_ENABLED = False
    client.force_login(app_user)
    assert client.get(TOKENS_URL).status_code == 404


def test_tokens_page_says_when_the_mcp_server_is_off(client, app_user):
    client.force_login(app_user)
    assert "The MCP server is turned off" in client.get(TOKENS_URL).text


def test_nav_links_to_api_tokens_for_signed_in_users_while_ai_is_enabled(
    client, api_only_user, settings
):
    client.force_login(api_only_user)
    assert f'href="{TOKENS_URL}"' in client.get("/").text
    settings.AI_ENABLED = False
    assert f'href="{TOKENS_URL}"' not in client.get("/").text


# -- the chat's prompt picker partials ---------------------------------------------------------


# get_current() keeps its snapshot while the settings version is unchanged and the database
# is emptied between tests: use versions no other test uses.
_versions = itertools.count(7_100_000)


@pytest.fixture
def active_prompt(db):
    collection = PromptCollection.objects.create(name="Team")
    prompt = Prompt.objects.create(
        collection=collection, name="explain", status="published", description="Explain a field."
    )
    PromptMessage.objects.create(prompt=prompt, text="Explain {{ field: The field name }}.")
    Prompt.objects.create(collection=collection, name="hidden-draft")
    AISettings.load()
    AISettings.objects.filter(pk=1).update(prompts_collection=collection, version=next(_versions))
    return prompt


def test_picker_lists_published_prompts_of_the_active_collection(client, app_user, active_prompt):
    client.force_login(app_user)
    response = client.get(reverse("prompts:picker"))
    assert "explain" in response.text and "Explain a field." in response.text
    assert "hidden-draft" not in response.text


def test_prompt_form_asks_for_each_variable(client, app_user, active_prompt):
    client.force_login(app_user)
    response = client.get(reverse("prompts:prompt_form", args=["explain"]))
    assert 'name="prompt" value="explain"' in response.text
    assert 'name="prompt_var-field"' in response.text and "The field name" in response.text


def test_picker_needs_app_access(client, api_only_user, active_prompt):
    client.force_login(api_only_user)
    assert client.get(reverse("prompts:picker")).status_code == 403
