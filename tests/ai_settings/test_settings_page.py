"""Settings → AI as an administrator uses it: keys encrypted and masked, allowed models,
compatible providers with headers and models, prompts, MCP, limits, audit, access rules."""

from __future__ import annotations

import json
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ai_settings import current
from ai_settings.current import get_current
from ai_settings.fields import UNDECRYPTABLE
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider, SettingsAuditEntry
from assistant.system_prompt import DEFAULT_SYSTEM_PROMPT
from prompts.models import PromptCollection
from tests.support.settings_page import URL, form_data, open_form, raw_column

pytestmark = pytest.mark.django_db

OPENAI_KEY = "sk-" + "proj-Qz7Xw9Lm2Rt5Vb8Nc1Hd4K"
ANTHROPIC_KEY = "sk-ant-" + "api03-Pp3Oo9Ii8Uu7Yy6Tt5Rr"
GOOGLE_KEY = "AIza" + "SyGg4Hh5Jj6Kk7Ll8Zz9Xx0Cc"
COMPAT_KEY = "msk-" + "Ww2Ee3Rr4Tt5Yy6Uu7Ii"
HEADER_SECRET = "Bearer hdr-Aa1Ss2Dd3Ff4Gg5Hh6"


def assert_secret_absent(html: str, secret: str) -> None:
    """Not the secret, nor any 8 characters of it (the last four alone may be shown)."""
    for start in range(len(secret) - 7):
        assert secret[start : start + 8] not in html, f"{secret[start : start + 8]!r} leaked"


@pytest.fixture(autouse=True)
def _fresh_settings_snapshot():
    # Test databases roll back, so a version number can repeat between tests: forget the
    # snapshot that current.py keeps for the version it last saw.
    current._memo = None
    yield
    current._memo = None


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def save(client, form, expected_status=302):
    response = client.post(URL, form.post())
    assert response.status_code == expected_status, response.text[:4000]
    return response


def add_provider(client, form, preset="", **fields):
    """Press "Add a provider" (no JavaScript), fill the new block's fields, return the form."""
    response = client.post(URL, form.post(f"add_provider:{preset}"))
    assert response.status_code == 200
    form = form_data(response.text)
    index = int(form.get("providers-TOTAL_FORMS")) - 1
    for name, value in fields.items():
        form.set(f"providers-{index}-{name}", value)
    return form, index


# --- the page -------------------------------------------------------------------------------


def test_page_shows_the_setup_guide_labels_and_defaults(admin_client):
    html = admin_client.get(URL).text
    for label in (
        "OpenAI API Key",
        "Anthropic API Key",
        "Google API Key",
        "Allowed Models",
        "OpenAI-Compatible Providers",
        "Custom System Prompt",
        "Model Context Protocol",
        "Enable MCP server",
        "Allow deletes via MCP",
        "AI Prompts Collection",
        "Generate new collection",
        "MCP system prompt",
        "Managing costs",
        "For best results, use built-in cloud providers.",
        "Start from default",
        ">Save<",
    ):
        assert label in html, label
    form = form_data(html)
    assert form.getlist("openai-allowed_models") == ["gpt-5-nano", "gpt-5-mini", "gpt-5"]
    assert form.getlist("anthropic-allowed_models") == ["claude-haiku-4-5", "claude-sonnet-4-5"]
    assert len(form.getlist("google-allowed_models")) == 4
    assert form.get("mcp_enabled") is None and form.get("mcp_allow_deletes") is None
    assert form.get("mcp_system_prompt_enabled") == "on"
    assert form.get("rate_limit_per_minute") == "20"
    assert form.get("daily_token_budget") == ""


def test_default_system_prompt_is_shown_read_only(admin_client):
    html = admin_client.get(URL).text
    assert DEFAULT_SYSTEM_PROMPT.strip() in unescape(html)
    assert form_data(html).get("custom_system_prompt") == ""


def test_start_from_default_without_javascript_fills_the_field_without_saving(admin_client):
    form = open_form(admin_client)
    response = admin_client.post(URL, form.post("start_from_default"))
    assert response.status_code == 200
    assert form_data(response.text).get("custom_system_prompt").strip() == (
        DEFAULT_SYSTEM_PROMPT.strip()
    )
    assert AISettings.load().custom_system_prompt == ""


# --- keys -----------------------------------------------------------------------------------


def test_saved_keys_are_ciphertext_in_the_database_and_masked_on_the_page(admin_client):
    form = open_form(admin_client)
    form.set("openai-api_key", OPENAI_KEY)
    form.set("anthropic-api_key", ANTHROPIC_KEY)
    form.set("google-api_key", GOOGLE_KEY)
    save(admin_client, form)

    row = AISettings.load()
    assert (row.openai_api_key, row.anthropic_api_key, row.google_api_key) == (
        OPENAI_KEY,
        ANTHROPIC_KEY,
        GOOGLE_KEY,
    )
    for column, key in (
        ("openai_api_key", OPENAI_KEY),
        ("anthropic_api_key", ANTHROPIC_KEY),
        ("google_api_key", GOOGLE_KEY),
    ):
        raw = raw_column("ai_settings_aisettings", column, row.pk)
        assert raw.startswith(b"gAAAAA")  # a Fernet token
        assert key.encode() not in raw

    html = admin_client.get(URL).text
    for key in (OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY):
        assert_secret_absent(html, key)
        assert f"Set · ends in {key[-4:]}" in html
    # The password inputs are empty.
    assert form_data(html).get("openai-api_key") == ""


def test_blank_key_field_keeps_stored_key(admin_client):
    row = AISettings.load()
    row.openai_api_key = OPENAI_KEY
    row.save()
    form = open_form(admin_client)
    form.set("rate_limit_per_minute", "25")
    save(admin_client, form)
    row.refresh_from_db()
    assert row.openai_api_key == OPENAI_KEY
    assert row.rate_limit_per_minute == 25


def test_remove_checkbox_clears_the_stored_key(admin_client):
    row = AISettings.load()
    row.anthropic_api_key = ANTHROPIC_KEY
    row.save()
    form = open_form(admin_client)
    form.set("anthropic-api_key_remove", "on")
    save(admin_client, form)
    row.refresh_from_db()
    assert row.anthropic_api_key == ""
    assert "Anthropic API Key" in admin_client.get(URL).text


def test_new_key_replaces_the_stored_key(admin_client):
    row = AISettings.load()
    row.google_api_key = GOOGLE_KEY
    row.save()
    form = open_form(admin_client)
    form.set("google-api_key", "AIza" + "SyNEW-Mm1Nn2Bb3Vv4Cc5")
    save(admin_client, form)
    row.refresh_from_db()
    assert row.google_api_key == "AIza" + "SyNEW-Mm1Nn2Bb3Vv4Cc5"


def test_new_key_and_remove_together_is_an_error(admin_client):
    row = AISettings.load()
    row.openai_api_key = OPENAI_KEY
    row.save()
    form = open_form(admin_client)
    form.set("openai-api_key", "sk-" + "other-key-Zz0Yy9Xx8")
    form.set("openai-api_key_remove", "on")
    response = save(admin_client, form, 400)
    assert "Either enter a new key or tick Remove, not both." in response.text
    assert_secret_absent(response.text, "sk-" + "other-key-Zz0Yy9Xx8")
    row.refresh_from_db()
    assert row.openai_api_key == OPENAI_KEY


def test_short_keys_show_only_that_they_are_set(admin_client):
    row = AISettings.load()
    row.openai_api_key = "sk-" + "Q7zW"
    row.save()
    html = admin_client.get(URL).text
    assert 'id="id_openai-api_key_status">\n    Set\n' in html
    assert "Q7zW" not in html


def test_undecryptable_key_asks_to_enter_it_again(admin_client, settings):
    settings.FERNET_KEYS = ["a key that is lost later"]
    row = AISettings.load()
    row.openai_api_key = OPENAI_KEY
    row.save()
    settings.FERNET_KEYS = ["the only key now"]
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert "Cannot be decrypted — enter it again" in response.text
    assert_secret_absent(response.text, OPENAI_KEY)
    # Saving something else leaves the unreadable value alone; entering a key repairs it.
    form = form_data(response.text)
    form.set("rate_limit_per_minute", "30")
    save(admin_client, form)
    assert "Cannot be decrypted" in admin_client.get(URL).text
    form = open_form(admin_client)
    form.set("openai-api_key", OPENAI_KEY)
    save(admin_client, form)
    assert AISettings.load().openai_api_key == OPENAI_KEY


# --- allowed models -------------------------------------------------------------------------


def test_allowed_models_are_saved_with_custom_ids_from_the_text_list(admin_client):
    form = open_form(admin_client)
    form.remove("openai-allowed_models")
    form.add("openai-allowed_models", "gpt-4.1-mini")
    form.set("openai-custom_models", "gpt-6-preview, o9-mini\nft:gpt-4.1:acme")
    form.remove("anthropic-allowed_models")
    save(admin_client, form)
    row = AISettings.load()
    assert row.openai_allowed_models == [
        "gpt-4.1-mini",
        "gpt-6-preview",
        "o9-mini",
        "ft:gpt-4.1:acme",
    ]
    assert row.anthropic_allowed_models == []
    # Custom IDs come back as checked choices.
    form = open_form(admin_client)
    assert form.getlist("openai-allowed_models") == row.openai_allowed_models
    assert form.get("openai-custom_models") == ""


def test_custom_model_id_added_by_the_enter_key_is_saved(admin_client):
    """The JavaScript chip is a checked checkbox named like the catalog's ones."""
    form = open_form(admin_client)
    form.add("google-allowed_models", "gemini-3-ultra-exp")
    save(admin_client, form)
    assert "gemini-3-ultra-exp" in AISettings.load().google_allowed_models


def test_a_provider_without_a_key_offers_no_models(admin_client):
    current = get_current()
    assert not [m for m in current.models if m.provider_kind == "openai"]
    form = open_form(admin_client)
    form.set("openai-api_key", OPENAI_KEY)
    save(admin_client, form)
    keys = [m.key for m in get_current().models if m.provider_kind == "openai"]
    assert keys == ["openai:gpt-5-nano", "openai:gpt-5-mini", "openai:gpt-5"]


def test_allow_button_without_javascript_adds_the_model_unsaved(admin_client):
    form = open_form(admin_client)
    response = admin_client.post(URL, form.post("allow:anthropic:claude-opus-4-5"))
    assert response.status_code == 200
    assert "claude-opus-4-5" in form_data(response.text).getlist("anthropic-allowed_models")
    assert "claude-opus-4-5" not in AISettings.load().anthropic_allowed_models


# --- OpenAI-compatible providers ------------------------------------------------------------


def test_add_provider_from_a_preset_and_save_it_with_two_models_and_a_header(admin_client):
    form = open_form(admin_client)
    form, index = add_provider(admin_client, form, "ollama")
    assert form.get(f"providers-{index}-name") == "Ollama"
    assert form.get(f"providers-{index}-base_url") == "http://localhost:11434/v1"
    prefix = f"providers-{index}"
    form.set(f"{prefix}-models-0-model_id", "qwen3:8b")
    response = admin_client.post(URL, form.post(f"add_model:{index}"))
    form = form_data(response.text)
    form.set(f"{prefix}-models-1-model_id", "gpt-oss:20b")
    form.set(f"{prefix}-models-1-display_name", "GPT-OSS 20B")
    form.set(f"{prefix}-models-1-supports_reasoning", "on")
    form.set(f"{prefix}-models-1-provider_options", '{"think": true}')
    response = admin_client.post(URL, form.post(f"add_header:{index}"))
    form = form_data(response.text)
    form.set(f"{prefix}-headers-0-name", "X-Team")
    form.set(f"{prefix}-headers-0-value", HEADER_SECRET)
    save(admin_client, form)

    provider = CompatibleProvider.objects.get()
    assert (provider.name, provider.base_url, provider.api_key) == (
        "Ollama",
        "http://localhost:11434/v1",
        "ollama",  # the preset's placeholder key
    )
    assert json.loads(provider.custom_headers) == {"X-Team": HEADER_SECRET}
    assert HEADER_SECRET.encode() not in raw_column(
        "ai_settings_compatibleprovider", "custom_headers", provider.pk
    )
    models = list(provider.models.all())
    assert [m.model_id for m in models] == ["qwen3:8b", "gpt-oss:20b"]
    assert models[0].context_window == 128_000 and models[0].max_output == 16_000
    assert models[1].supports_reasoning and models[1].provider_options == {"think": True}
    keys = [m.key for m in get_current().models]
    assert f"compat-{provider.pk}:qwen3:8b" in keys

    changes = SettingsAuditEntry.objects.get().changes
    label = "OpenAI-compatible provider “Ollama”"
    assert {"field": label, "change": "added"} in changes
    assert {"field": f"{label} · API Key", "change": "set"} in changes
    assert {"field": f"{label} · Custom Headers", "change": "added X-Team"} in changes
    assert {"field": f"{label} · Models", "change": "added qwen3:8b, gpt-oss:20b"} in changes
    assert HEADER_SECRET not in json.dumps(changes)

    html = admin_client.get(URL).text
    assert "X-Team" in html
    assert_secret_absent(html, HEADER_SECRET)
    assert f"Set · ends in {HEADER_SECRET[-4:]}" in html


def test_blank_header_value_keeps_it_and_a_new_value_replaces_it(admin_client):
    provider = CompatibleProvider.objects.create(
        name="Gateway",
        base_url="https://llm.example.com/v1",
        custom_headers=json.dumps({"X-Key": HEADER_SECRET, "X-Org": "org-Kk8Jj7Hh6Gg5"}),
    )
    form = open_form(admin_client)
    assert form.get("providers-0-headers-0-name") == "X-Key"
    assert form.get("providers-0-headers-0-value") == ""
    form.set("providers-0-headers-1-value", "org-NEW-Qq1Ww2Ee3")
    save(admin_client, form)
    provider.refresh_from_db()
    assert json.loads(provider.custom_headers) == {
        "X-Key": HEADER_SECRET,
        "X-Org": "org-NEW-Qq1Ww2Ee3",
    }
    form = open_form(admin_client)
    form.set("providers-0-headers-0-DELETE", "on")
    save(admin_client, form)
    provider.refresh_from_db()
    assert json.loads(provider.custom_headers) == {"X-Org": "org-NEW-Qq1Ww2Ee3"}


def test_undecryptable_custom_headers_are_kept_until_replaced(admin_client, settings):
    settings.FERNET_KEYS = ["lost key"]
    provider = CompatibleProvider.objects.create(
        name="Gateway",
        base_url="https://llm.example.com/v1",
        custom_headers=json.dumps({"X-Key": HEADER_SECRET}),
    )
    settings.FERNET_KEYS = ["current key"]
    html = unescape(admin_client.get(URL).text)
    assert "The stored custom headers cannot be decrypted — enter them again." in html
    form = form_data(html)
    form.set("providers-0-base_url", "https://llm2.example.com/v1")
    save(admin_client, form)
    provider.refresh_from_db()
    assert provider.base_url == "https://llm2.example.com/v1"
    assert provider.custom_headers is UNDECRYPTABLE

    form = open_form(admin_client)
    form.set("providers-0-headers-TOTAL_FORMS", "1")
    form.set("providers-0-headers-0-name", "X-Key")
    form.set("providers-0-headers-0-value", "new-Vv1Aa2Ll3")
    save(admin_client, form)
    provider.refresh_from_db()
    assert json.loads(provider.custom_headers) == {"X-Key": "new-Vv1Aa2Ll3"}


def test_compatible_provider_key_is_masked_and_kept_when_blank(admin_client):
    provider = CompatibleProvider.objects.create(
        name="Mistral", base_url="https://api.mistral.ai/v1", api_key=COMPAT_KEY
    )
    CompatibleModel.objects.create(provider=provider, model_id="mistral-small-latest")
    html = admin_client.get(URL).text
    assert_secret_absent(html, COMPAT_KEY)
    assert f"Set · ends in {COMPAT_KEY[-4:]}" in html
    form = form_data(html)
    form.set("providers-0-models-0-display_name", "Mistral Small")
    save(admin_client, form)
    provider.refresh_from_db()
    assert provider.api_key == COMPAT_KEY
    assert provider.models.get().display_name == "Mistral Small"


def test_removing_a_provider_and_a_model_row(admin_client):
    keep = CompatibleProvider.objects.create(name="Keep", base_url="http://a.example/v1")
    CompatibleModel.objects.create(provider=keep, model_id="one")
    CompatibleModel.objects.create(provider=keep, model_id="two", position=1)
    CompatibleProvider.objects.create(name="Drop", base_url="http://b.example/v1", position=1)
    form = open_form(admin_client)
    form.set("providers-0-models-1-DELETE", "on")
    form.set("providers-1-DELETE", "on")
    save(admin_client, form)
    assert list(CompatibleProvider.objects.values_list("name", flat=True)) == ["Keep"]
    assert list(keep.models.values_list("model_id", flat=True)) == ["one"]


def test_two_providers_can_swap_names_in_one_save(admin_client):
    CompatibleProvider.objects.create(name="A", base_url="http://a.example/v1")
    CompatibleProvider.objects.create(name="B", base_url="http://b.example/v1", position=1)
    form = open_form(admin_client)
    form.set("providers-0-name", "B")
    form.set("providers-1-name", "A")
    save(admin_client, form)
    assert dict(CompatibleProvider.objects.values_list("base_url", "name")) == {
        "http://a.example/v1": "B",
        "http://b.example/v1": "A",
    }


def test_an_untouched_new_provider_block_is_ignored(admin_client):
    form = open_form(admin_client)
    form, _ = add_provider(admin_client, form, "")
    save(admin_client, form)
    assert not CompatibleProvider.objects.exists()


def test_htmx_adds_a_provider_block_in_place_with_the_new_row_count(admin_client):
    response = admin_client.get(
        "/settings/ai/rows/provider/",
        {"preset": "azure-openai", "providers-TOTAL_FORMS": "2"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.text
    assert 'name="providers-2-name"' in html and 'value="Azure OpenAI"' in html
    assert "https://YOUR-RESOURCE.openai.azure.com/openai/v1" in html
    assert 'name="providers-2-models-TOTAL_FORMS"' in html
    assert 'id="id_providers-TOTAL_FORMS" hx-swap-oob="true"' in html
    assert 'value="3"' in html


def test_htmx_adds_a_model_row_and_a_header_row(admin_client):
    response = admin_client.get(
        "/settings/ai/rows/model/",
        {
            "prefix": "providers-0-models",
            "providers-0-models-TOTAL_FORMS": "1",
            "model_id": "qwen3:8b",
        },
    )
    assert response.status_code == 200
    assert 'name="providers-0-models-1-model_id"' in response.text
    assert 'value="qwen3:8b"' in response.text
    assert 'value="128000"' in response.text
    response = admin_client.get(
        "/settings/ai/rows/header/",
        {"prefix": "providers-3-headers", "providers-3-headers-TOTAL_FORMS": "0"},
    )
    assert 'name="providers-3-headers-0-name"' in response.text
    bad = admin_client.get("/settings/ai/rows/model/", {"prefix": "evil"})
    assert bad.status_code == 400


# --- prompts, MCP, limits -------------------------------------------------------------------


def test_mcp_section_and_usage_limits_are_saved(admin_client):
    collection = PromptCollection.objects.create(name="Team prompts")
    form = open_form(admin_client)
    form.set("mcp_enabled", "on")
    form.set("mcp_allow_deletes", "on")
    form.set("prompts_collection", str(collection.pk))
    form.remove("mcp_system_prompt_enabled")
    form.set("mcp_system_prompt", "Answer MCP clients tersely.")
    form.set("custom_system_prompt", "Be kind.")
    form.set("rate_limit_per_minute", "5")
    form.set("daily_token_budget", "50000")
    save(admin_client, form)
    row = AISettings.load()
    assert row.mcp_enabled and row.mcp_allow_deletes and not row.mcp_system_prompt_enabled
    assert row.prompts_collection == collection
    assert row.mcp_system_prompt == "Answer MCP clients tersely."
    assert row.custom_system_prompt == "Be kind."
    assert (row.rate_limit_per_minute, row.daily_token_budget) == (5, 50000)
    form = open_form(admin_client)
    form.set("daily_token_budget", "")
    save(admin_client, form)
    assert AISettings.load().daily_token_budget is None


def test_generate_new_collection_creates_example_prompts_and_selects_it(admin_client):
    form = open_form(admin_client)
    response = admin_client.post(URL, form.post("generate_collection"))
    assert response.status_code == 200
    collection = PromptCollection.objects.get()
    assert collection.prompts.filter(status="published").count() >= 3
    assert form_data(response.text).get("prompts_collection") == str(collection.pk)
    assert AISettings.load().prompts_collection is None  # chosen, not yet saved

    response = admin_client.post(
        "/settings/ai/generate-collection/", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    second = PromptCollection.objects.exclude(pk=collection.pk).get()
    assert f'<option value="{second.pk}" selected>' in response.text


# --- stale forms, audit ---------------------------------------------------------------------


def test_stale_form_is_refused_and_nothing_is_saved(client, superuser, settings_manager):
    client.force_login(superuser)
    stale = open_form(client)
    other = open_form(client)
    other.set("rate_limit_per_minute", "7")
    save(client, other)

    stale.set("rate_limit_per_minute", "99")
    stale.set("openai-api_key", OPENAI_KEY)
    response = client.post(URL, stale.post())
    assert response.status_code == 409
    assert "settings changed since you opened this page" in response.text
    row = AISettings.load()
    assert row.rate_limit_per_minute == 7 and row.openai_api_key == ""
    # The page now shows the current settings.
    assert form_data(response.text).get("rate_limit_per_minute") == "7"


def test_each_save_bumps_the_version(admin_client):
    before = AISettings.load().version
    form = open_form(admin_client)
    form.set("custom_system_prompt", "Hi")
    save(admin_client, form)
    assert AISettings.load().version == before + 1


def test_saving_without_changes_records_nothing(admin_client):
    form = open_form(admin_client)
    response = admin_client.post(URL, form.post(), follow=True)
    assert "No changes to save." in response.text
    assert not SettingsAuditEntry.objects.exists()


def test_audit_records_who_changed_which_fields_without_secret_values(admin_client, superuser):
    form = open_form(admin_client)
    form.set("openai-api_key", OPENAI_KEY)
    form.set("mcp_enabled", "on")
    form.remove("openai-allowed_models", "gpt-5")
    save(admin_client, form)
    entry = SettingsAuditEntry.objects.get()
    assert entry.user == superuser
    assert {"field": "OpenAI API Key", "change": "set"} in entry.changes
    assert {"field": "Enable MCP server", "change": "turned on"} in entry.changes
    assert {"field": "OpenAI Allowed Models", "change": "removed gpt-5"} in entry.changes
    assert OPENAI_KEY not in json.dumps(entry.changes)

    form = open_form(admin_client)
    form.set("openai-api_key_remove", "on")
    save(admin_client, form)
    latest = SettingsAuditEntry.objects.first()
    assert latest.changes == [{"field": "OpenAI API Key", "change": "removed"}]
    html = admin_client.get(URL).text
    assert "OpenAI API Key: removed" in html and "root" in html


def test_page_shows_the_last_20_audit_entries(admin_client, superuser):
    for number in range(25):
        SettingsAuditEntry.objects.create(
            user=superuser, changes=[{"field": f"Field {number}", "change": "changed"}]
        )
    html = admin_client.get(URL).text
    assert "Field 24: changed" in html and "Field 5: changed" in html
    assert "Field 4: changed" not in html


# --- access and AI_ENABLED ------------------------------------------------------------------


@pytest.mark.parametrize("account", ["api_only_user", "app_user", "staff_user"])
def test_users_without_the_permission_get_403_everywhere(client, request, account):
    client.force_login(request.getfixturevalue(account))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"action": "save"}).status_code == 403
    assert client.get("/settings/ai/rows/provider/").status_code == 403
    assert client.post("/settings/ai/test-connection/", {"target": "openai"}).status_code == 403
    assert client.post("/settings/ai/generate-collection/").status_code == 403
    assert not PromptCollection.objects.exists()


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_manager_with_the_permission_can_save(client, settings_manager):
    client.force_login(settings_manager)
    form = open_form(client)
    form.set("rate_limit_per_minute", "3")
    save(client, form)
    assert AISettings.load().rate_limit_per_minute == 3
    assert SettingsAuditEntry.objects.get().user == settings_manager


def test_with_ai_disabled_every_input_is_disabled_and_posts_are_refused(admin_client, settings):
    CompatibleProvider.objects.create(name="Ollama", base_url="http://localhost:11434/v1")
    live = open_form(admin_client)
    settings.AI_ENABLED = False
    html = admin_client.get(URL).text
    assert "disabled by the environment" in html
    assert '<fieldset class="settings-body" disabled>' in html
    assert form_data(html).pairs == [
        ("csrfmiddlewaretoken", form_data(html).get("csrfmiddlewaretoken"))
    ]

    live.set("rate_limit_per_minute", "99")
    live.set("openai-api_key", OPENAI_KEY)
    response = admin_client.post(URL, live.post())
    assert response.status_code == 403
    row = AISettings.load()
    assert row.rate_limit_per_minute == 20 and row.openai_api_key == ""
    assert admin_client.post(URL, live.post("add_provider:ollama")).status_code == 403
    assert admin_client.post("/settings/ai/generate-collection/").status_code == 403
    assert not PromptCollection.objects.exists()


# --- performance shape ----------------------------------------------------------------------


def test_page_queries_do_not_grow_with_providers_and_models(admin_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(URL).status_code == 200
        return len(queries)

    provider = CompatibleProvider.objects.create(name="P0", base_url="http://p0.example/v1")
    CompatibleModel.objects.create(provider=provider, model_id="m")
    count()  # the first request creates the settings row
    one = count()
    for number in range(1, 6):
        provider = CompatibleProvider.objects.create(
            name=f"P{number}", base_url=f"http://p{number}.example/v1", position=number
        )
        for model_number in range(4):
            CompatibleModel.objects.create(provider=provider, model_id=f"m{model_number}")
    assert count() == one


def test_error_reports_never_include_the_posted_keys(admin_client):
    from django.views.debug import SafeExceptionReporterFilter

    form = open_form(admin_client)
    form.set("openai-api_key", OPENAI_KEY)
    response = admin_client.post(URL, form.post())
    reported = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
    assert OPENAI_KEY not in str(dict(reported))
