"""Every bad input on Settings → AI: the form comes back with the field's message and nothing
at all is saved (one transaction), not even the valid changes submitted with it."""

from __future__ import annotations

import json
from html import unescape

import pytest

from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider, SettingsAuditEntry
from tests.support.settings_page import URL, form_data, open_form

pytestmark = pytest.mark.django_db

VALID_NEW_KEY = "sk-" + "valid-Hh3Jj4Kk5Ll6Mm7Nn8"
LONG_ID = "m" * 201


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    alpha = CompatibleProvider.objects.create(
        name="Alpha",
        base_url="https://alpha.example.com/v1",
        custom_headers=json.dumps({"X-Key": "hv-Pp9Oo8Ii7Uu6"}),
    )
    CompatibleModel.objects.create(provider=alpha, model_id="a1")
    CompatibleModel.objects.create(provider=alpha, model_id="a2", position=1)
    beta = CompatibleProvider.objects.create(
        name="Beta", base_url="http://localhost:1234/v1", position=1
    )
    CompatibleModel.objects.create(provider=beta, model_id="b1")
    return client


def snapshot() -> tuple:
    row = AISettings.load()
    settings_values = {
        field.name: getattr(row, field.name)
        for field in AISettings._meta.concrete_fields
        if field.name != "updated_at"
    }
    providers = list(CompatibleProvider.objects.values())
    models = list(CompatibleModel.objects.values())
    return settings_values, providers, models, SettingsAuditEntry.objects.count()


def new_header(form, value: str, name: str = "X-New") -> None:
    total = int(form.get("providers-0-headers-TOTAL_FORMS"))
    form.set("providers-0-headers-TOTAL_FORMS", str(total + 1))
    form.set(f"providers-0-headers-{total}-name", name)
    form.set(f"providers-0-headers-{total}-value", value)


BAD_INPUTS = {
    "base url ftp": (
        lambda f: f.set("providers-0-base_url", "ftp://files.example.com/v1"),
        "Enter an http:// or https:// URL",
    ),
    "base url without scheme": (
        lambda f: f.set("providers-0-base_url", "localhost:11434/v1"),
        "Enter an http:// or https:// URL",
    ),
    "base url javascript": (
        lambda f: f.set("providers-1-base_url", "javascript:alert(1)"),
        "Enter an http:// or https:// URL",
    ),
    "base url blank": (
        lambda f: f.set("providers-0-base_url", ""),
        "Enter the provider's Base URL.",
    ),
    "provider name blank": (
        lambda f: f.set("providers-1-name", ""),
        "Enter the provider's name.",
    ),
    "header name with a space": (
        lambda f: f.set("providers-0-headers-0-name", "X Key"),
        "is not a valid header name",
    ),
    "header name with CR/LF": (
        lambda f: new_header(f, "value", name="X-A\r\nX-Evil"),
        "is not a valid header name",
    ),
    "header value with CR/LF": (
        lambda f: new_header(f, "abc\r\nX-Evil: 1"),
        "Header values cannot contain line breaks (CR or LF).",
    ),
    "header value with LF only": (
        lambda f: f.set("providers-0-headers-0-value", "abc\ndef"),
        "Header values cannot contain line breaks (CR or LF).",
    ),
    "header value not text (control character)": (
        lambda f: new_header(f, "ansi\x1b[31mred"),
        "Header values must be plain text",
    ),
    "header value not text (non-ASCII)": (
        lambda f: new_header(f, "café"),
        "Header values must be plain text",
    ),
    "new header without a value": (
        lambda f: new_header(f, ""),
        "Enter a value for this header.",
    ),
    "header listed twice": (
        lambda f: new_header(f, "v", name="x-key"),
        "This header is listed twice.",
    ),
    "provider options a JSON array": (
        lambda f: f.set("providers-0-models-0-provider_options", "[1, 2]"),
        "Provider Options must be a JSON object",
    ),
    "provider options a JSON string": (
        lambda f: f.set("providers-0-models-0-provider_options", '"fast"'),
        "Provider Options must be a JSON object",
    ),
    "provider options not JSON": (
        lambda f: f.set("providers-0-models-0-provider_options", "{temperature: 0.2"),
        "Provider Options is not valid JSON",
    ),
    "context window zero": (
        lambda f: f.set("providers-0-models-0-context_window", "0"),
        "Context Window must be a positive whole number.",
    ),
    "context window negative": (
        lambda f: f.set("providers-0-models-1-context_window", "-5"),
        "Context Window must be a positive whole number.",
    ),
    "context window not a number": (
        lambda f: f.set("providers-1-models-0-context_window", "lots"),
        "Context Window must be a positive whole number.",
    ),
    "max output a fraction": (
        lambda f: f.set("providers-0-models-0-max_output", "1.5"),
        "Max Output must be a positive whole number.",
    ),
    "max output zero": (
        lambda f: f.set("providers-0-models-0-max_output", "0"),
        "Max Output must be a positive whole number.",
    ),
    "max output above the context window": (
        lambda f: (
            f.set("providers-0-models-0-context_window", "8000"),
            f.set("providers-0-models-0-max_output", "16000"),
        ),
        "Max Output cannot be larger than the Context Window.",
    ),
    "two providers with one name": (
        lambda f: f.set("providers-1-name", "Alpha"),
        "Another provider is already named “Alpha”.",
    ),
    "two providers with one name in another case": (
        lambda f: f.set("providers-1-name", "ALPHA"),
        "Another provider is already named “ALPHA”.",
    ),
    "model ID twice in a provider": (
        lambda f: f.set("providers-0-models-1-model_id", "a1"),
        "This model ID is already listed for this provider.",
    ),
    "model ID with whitespace": (
        lambda f: f.set("providers-1-models-0-model_id", "qwen3 8b"),
        "Model IDs cannot contain spaces or line breaks",
    ),
    "compatible model ID over 200 characters": (
        lambda f: f.set("providers-0-models-0-model_id", LONG_ID),
        "Model IDs can be at most 200 characters",
    ),
    "custom model ID over 200 characters (typed list)": (
        lambda f: f.set("openai-custom_models", f"gpt-6, {LONG_ID}"),
        "Model IDs can be at most 200 characters",
    ),
    "custom model ID over 200 characters (checkbox added by JavaScript)": (
        lambda f: f.add("anthropic-allowed_models", LONG_ID),
        "Model IDs can be at most 200 characters",
    ),
    "custom model ID with whitespace": (
        lambda f: f.set("google-custom_models", "gemini pro max"),
        "Model IDs cannot contain spaces or line breaks",
    ),
    "API key with a space": (
        lambda f: f.set("anthropic-api_key", "sk-ant oops-Zz9Yy8Xx7"),
        "Keys cannot contain spaces or line breaks.",
    ),
    "rate limit zero": (
        lambda f: f.set("rate_limit_per_minute", "0"),
        "Messages per minute per user must be a positive whole number.",
    ),
    "token budget not a number": (
        lambda f: f.set("daily_token_budget", "a lot"),
        "Daily token budget per user must be a positive whole number.",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_the_fields_message_and_nothing_is_saved(admin_client, case):
    mutate, message = BAD_INPUTS[case]
    form = open_form(admin_client)
    before = snapshot()
    # Valid changes submitted alongside the bad one must not be saved either.
    form.set("openai-api_key", VALID_NEW_KEY)
    form.set("custom_system_prompt", "A valid change")
    form.set("providers-1-models-0-display_name", "Also valid")
    mutate(form)

    response = admin_client.post(URL, form.post())

    assert response.status_code == 400
    html = unescape(response.text)
    assert message in html
    assert "Nothing was saved" in html
    assert snapshot() == before
    # The form comes back filled in (minus secrets, which are never echoed).
    again = form_data(response.text)
    assert again.get("custom_system_prompt") == "A valid change"
    assert again.get("openai-api_key") == ""
    assert VALID_NEW_KEY not in response.text
    assert "sk-ant oops" not in response.text


def test_error_is_shown_next_to_its_field(admin_client):
    form = open_form(admin_client)
    form.set("providers-0-models-0-provider_options", "[]")
    response = admin_client.post(URL, form.post())
    html = unescape(response.text)
    field_start = html.index('name="providers-0-models-0-provider_options"')
    message_at = html.index("Provider Options must be a JSON object")
    assert 0 < message_at - field_start < 1000
    assert 'aria-invalid="true"' in html


def test_an_add_button_does_not_report_errors_for_half_filled_rows(admin_client):
    form = open_form(admin_client)
    form.set("providers-0-models-0-provider_options", "[]")
    response = admin_client.post(URL, form.post("add_model:0"))
    assert response.status_code == 200
    assert "Provider Options must be a JSON object" not in unescape(response.text)
    assert form_data(response.text).get("providers-0-models-0-provider_options") == "[]"
