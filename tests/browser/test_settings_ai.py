"""Settings → AI in a real browser, as an administrator would use it."""

from __future__ import annotations

import json

import pytest

from ai_settings.models import AISettings, CompatibleProvider
from tests.support.browser import log_in

pytestmark = pytest.mark.browser

OPENAI_KEY = "sk-" + "proj-Br0wserQz7Xw9Lm2Rt5Vb8"
ANTHROPIC_KEY = "sk-ant-" + "api03-Br0wserPp3Oo9Ii8Uu"
COMPAT_KEY = "gw-Br0wserKk1Jj2Hh3Gg4"
HEADER_VALUE = "team-secret-Br0wserMm5Nn6"


def assert_secret_absent(html: str, secret: str) -> None:
    for start in range(len(secret) - 7):
        assert secret[start : start + 8] not in html, f"{secret[start : start + 8]!r} leaked"


def test_admin_sets_keys_models_and_a_compatible_provider_then_sees_them_masked(page, superuser):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, "root")
    page.goto("/settings/ai/")

    page.get_by_label("OpenAI API Key").fill(OPENAI_KEY)
    page.get_by_label("Anthropic API Key").fill(ANTHROPIC_KEY)

    openai = page.locator("#provider-openai")
    openai.get_by_label("GPT-4.1 mini").check()
    openai.get_by_label("GPT-5 Nano").uncheck()
    entry = openai.get_by_label("Add a custom model ID")
    assert entry.is_visible()
    assert not openai.get_by_label("Custom model IDs").is_visible()  # the no-JS text list
    entry.fill("gpt-6-preview")
    entry.press("Enter")  # adds a chip; does not submit the form
    chip = openai.locator('input[type="checkbox"][value="gpt-6-preview"]')
    assert chip.is_checked()
    assert page.url.endswith("/settings/ai/")
    entry.fill("has space")
    entry.press("Enter")
    assert "cannot contain spaces" in page.locator("#custom-entry-openai-message").inner_text()

    page.get_by_role("button", name="Ollama").click()
    provider = page.locator("#providers-0")
    provider.wait_for()
    assert provider.get_by_label("Provider Name").input_value() == "Ollama"
    assert provider.get_by_label("Base URL").input_value() == "http://localhost:11434/v1"
    provider.get_by_label("API Key").fill(COMPAT_KEY)
    page.locator("#id_providers-0-models-0-model_id").fill("qwen3:8b")
    provider.get_by_role("button", name="Add model to Ollama").click()
    page.locator("#id_providers-0-models-1-model_id").fill("gpt-oss:20b")
    page.locator("#id_providers-0-models-1-display_name").fill("GPT-OSS 20B")
    page.locator("#id_providers-0-models-1-supports_reasoning").check()
    provider.get_by_role("button", name="Add header to Ollama").click()
    page.locator("#id_providers-0-headers-0-name").fill("X-Team")
    page.locator("#id_providers-0-headers-0-value").fill(HEADER_VALUE)

    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Settings saved.").wait_for()

    page.reload()
    html = page.content()
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, COMPAT_KEY, HEADER_VALUE):
        assert_secret_absent(html, secret)
        assert f"ends in {secret[-4:]}" in html
    assert page.get_by_label("OpenAI API Key", exact=True).input_value() == ""
    assert page.locator('#allowed-openai input[value="gpt-6-preview"]').is_checked()
    assert not page.locator('#allowed-openai input[value="gpt-5-nano"]').is_checked()
    assert page.locator("#id_providers-0-headers-0-name").input_value() == "X-Team"
    assert "OpenAI API Key: set" in page.locator(".audit-log").inner_text()

    row = AISettings.load()
    assert row.openai_api_key == OPENAI_KEY
    assert row.openai_allowed_models == ["gpt-4.1-mini", "gpt-5-mini", "gpt-5", "gpt-6-preview"]
    saved = CompatibleProvider.objects.get()
    assert saved.api_key == COMPAT_KEY
    assert json.loads(saved.custom_headers) == {"X-Team": HEADER_VALUE}
    assert [m.model_id for m in saved.models.all()] == ["qwen3:8b", "gpt-oss:20b"]
    assert not problems, problems


def test_start_from_default_copies_the_default_prompt(page, superuser):
    log_in(page, "root")
    page.goto("/settings/ai/")
    page.get_by_text("View Default System Prompt").click()
    page.get_by_role("button", name="Start from default").click()
    field = page.get_by_role("textbox", name="Custom System Prompt")
    assert (
        field.input_value().strip() == page.locator("#default-system-prompt").inner_text().strip()
    )
    assert page.url.endswith("/settings/ai/")
    assert AISettings.load().custom_system_prompt == ""


def test_generate_new_collection_selects_it_in_place(page, superuser):
    log_in(page, "root")
    page.goto("/settings/ai/")
    page.get_by_role("button", name="Generate new collection").click()
    page.get_by_text("with example prompts. Save to use it.").wait_for()
    select = page.get_by_label("AI Prompts Collection")
    assert select.locator("option:checked").inner_text() == "Example prompts"
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Settings saved.").wait_for()
    assert AISettings.load().prompts_collection.name == "Example prompts"


def test_non_admin_gets_403(page, app_user):
    log_in(page, "app-user")
    response = page.goto("/settings/ai/")
    assert response.status == 403


def test_test_connection_lists_models_and_adds_one_in_a_click(
    page, superuser, settings, fake_openai
):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    fake_openai.models = ["gpt-5", "gpt-4.1", "o9-experimental"]
    log_in(page, "root")
    page.goto("/settings/ai/")
    page.get_by_label("OpenAI API Key", exact=True).fill(OPENAI_KEY)
    page.get_by_role("button", name="Test connection to OpenAI").click()
    result = page.locator("#test-result-openai")
    result.get_by_text("Connected: 3 models available.").wait_for()
    assert page.url.endswith("/settings/ai/")  # htmx, no navigation
    result.get_by_text("Show the models").click()
    result.locator('[data-allow-model="o9-experimental"]').click()
    assert page.locator('#allowed-openai input[value="o9-experimental"]').is_checked()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Settings saved.").wait_for()
    assert "o9-experimental" in AISettings.load().openai_allowed_models
    assert fake_openai.api_key_of(fake_openai.requests[-1]) == OPENAI_KEY


def test_compatible_provider_test_connection_adds_a_model_row(page, superuser, fake_openai):
    fake_openai.models = ["llama3.3", "qwen3:8b"]
    log_in(page, "root")
    page.goto("/settings/ai/")
    page.get_by_role("button", name="LM Studio").click()
    provider = page.locator("#providers-0")
    provider.get_by_label("Base URL").fill(fake_openai.base_url)
    provider.get_by_role("button", name="Test connection to LM Studio").click()
    provider.get_by_text("Connected: 2 models available.").wait_for()
    provider.get_by_text("Show the models").click()
    provider.locator('button[value="add_model:0:qwen3:8b"]').click()
    page.locator("#id_providers-0-models-1-model_id").wait_for()
    assert page.locator("#id_providers-0-models-1-model_id").input_value() == "qwen3:8b"
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Settings saved.").wait_for()
    saved = CompatibleProvider.objects.get()
    assert saved.name == "LM Studio"
    assert [m.model_id for m in saved.models.all()] == ["qwen3:8b"]


def test_the_page_works_without_javascript(browser, asgi_server, superuser):
    context = browser.new_context(base_url=asgi_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, "root")
        page.goto("/settings/ai/")
        openai = page.locator("#provider-openai")
        assert not openai.get_by_label("Add a custom model ID").is_visible()
        page.get_by_label("OpenAI API Key", exact=True).fill(OPENAI_KEY)
        openai.get_by_label("Custom model IDs").fill("gpt-6-preview, o9-mini")
        page.get_by_role("button", name="Mistral").click()  # a full round trip, unsaved
        page.locator("#providers-0").wait_for()
        assert page.locator("#id_providers-0-base_url").input_value() == "https://api.mistral.ai/v1"
        # Typed keys are never sent back: the page says so, and the key is typed again.
        page.get_by_text("enter them again before saving").wait_for()
        page.get_by_label("OpenAI API Key", exact=True).fill(OPENAI_KEY)
        page.locator("#id_providers-0-models-0-model_id").fill("mistral-small-latest")
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Settings saved.").wait_for()
        row = AISettings.load()
        assert row.openai_api_key == OPENAI_KEY
        assert row.openai_allowed_models[-2:] == ["gpt-6-preview", "o9-mini"]
        saved = CompatibleProvider.objects.get()
        assert (saved.name, [m.model_id for m in saved.models.all()]) == (
            "Mistral",
            ["mistral-small-latest"],
        )
    finally:
        context.close()
