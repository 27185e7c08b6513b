"""“Test connection” on Settings → AI: the real SDKs list models from the fake providers with
the key typed on the page or the stored one; errors come back with the key redacted."""

from __future__ import annotations

import json
from html import unescape

import pytest

from ai_settings.models import AISettings, CompatibleProvider
from tests.conftest import free_port
from tests.fakes.script import HttpError
from tests.settings_page import URL, form_data, open_form

pytestmark = pytest.mark.django_db

TEST_URL = "/settings/ai/test-connection/"
TYPED_KEY = "sk-" "typed-Tt1Yy2Pp3Ee4Dd5"
STORED_KEY = "sk-" "stored-Ss1Tt2Oo3Rr4Ee5"
FAKES = {"openai": "fake_openai", "anthropic": "fake_anthropic", "google": "fake_gemini"}


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture(params=list(FAKES))
def builtin(request, settings):
    """A built-in provider kind whose base URL points at its fake server."""
    fake = request.getfixturevalue(FAKES[request.param])
    setattr(settings, f"{request.param.upper()}_BASE_URL", fake.base_url)
    return request.param, fake


def press_test_connection(client, form, target: str):
    data = form.post()
    data.pop("action")
    data["target"] = [target]
    response = client.post(TEST_URL, data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response


def test_lists_models_with_the_typed_key_and_saves_nothing(admin_client, builtin):
    kind, fake = builtin
    fake.models = ["model-one", "model-two", "model-three"]
    form = open_form(admin_client)
    form.set(f"{kind}_api_key", TYPED_KEY)

    response = press_test_connection(admin_client, form, kind)

    assert "Connected: 3 models available." in response.text
    assert "model-two" in response.text
    assert fake.api_key_of(fake.requests[-1]) == TYPED_KEY
    assert getattr(AISettings.load(), f"{kind}_api_key") == ""
    assert TYPED_KEY not in response.text


def test_blank_key_field_tests_the_stored_key(admin_client, builtin):
    kind, fake = builtin
    row = AISettings.load()
    setattr(row, f"{kind}_api_key", STORED_KEY)
    row.save()

    press_test_connection(admin_client, open_form(admin_client), kind)

    assert fake.api_key_of(fake.requests[-1]) == STORED_KEY


def test_provider_error_is_shown_with_the_key_redacted(admin_client, builtin):
    kind, fake = builtin
    fake.models_error = HttpError(401, "Incorrect API key provided: {key}.")
    form = open_form(admin_client)
    form.set(f"{kind}_api_key", TYPED_KEY)

    response = press_test_connection(admin_client, form, kind)

    assert "Connection failed:" in response.text
    assert TYPED_KEY not in response.text
    assert TYPED_KEY[4:-4] not in response.text


def test_listed_models_offer_one_click_add_unless_already_allowed(
    admin_client, settings, fake_openai
):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    fake_openai.models = ["gpt-5", "gpt-4.1"]
    form = open_form(admin_client)
    form.set("openai_api_key", TYPED_KEY)

    html = press_test_connection(admin_client, form, "openai").text

    assert 'data-allow-model="gpt-4.1"' in html
    assert 'value="allow:openai:gpt-4.1"' in html
    assert 'data-allow-model="gpt-5"' not in html  # gpt-5 is allowed by default


def test_without_a_key_it_asks_for_one(admin_client):
    html = press_test_connection(admin_client, open_form(admin_client), "openai").text
    assert "Enter the OpenAI API Key first." in html


def test_unreachable_provider_is_a_readable_error(admin_client, settings):
    settings.ANTHROPIC_BASE_URL = f"http://127.0.0.1:{free_port()}"
    form = open_form(admin_client)
    form.set("anthropic_api_key", TYPED_KEY)
    html = press_test_connection(admin_client, form, "anthropic").text
    assert "Connection failed:" in html
    assert TYPED_KEY not in html


def test_unsaved_compatible_provider_is_tested_with_its_headers(admin_client, fake_openai):
    fake_openai.models = ["qwen3:8b", "llama3.3"]
    form = open_form(admin_client)
    response = admin_client.post(URL, form.post("add_provider:ollama"))
    form = form_data(response.text)
    form.set("providers-0-base_url", fake_openai.base_url)
    form.set("providers-0-models-0-model_id", "qwen3:8b")
    form.set("providers-0-headers-TOTAL_FORMS", "1")
    form.set("providers-0-headers-0-name", "X-Team")
    form.set("providers-0-headers-0-value", "team-Hh1Ee2Aa3")

    html = press_test_connection(admin_client, form, "providers-0").text

    assert "Connected: 2 models available." in html
    request = fake_openai.requests[-1]
    assert request.headers["x-team"] == "team-Hh1Ee2Aa3"
    assert fake_openai.api_key_of(request) == "ollama"  # the preset's placeholder
    assert "team-Hh1Ee2Aa3" not in html
    # llama3.3 can be added as a model row in place; qwen3:8b is already listed.
    assert "model_id=llama3.3" in html and 'value="add_model:0:llama3.3"' in html
    assert 'value="add_model:0:qwen3:8b"' not in html
    assert not CompatibleProvider.objects.exists()


def test_stored_compatible_provider_uses_its_stored_key_and_header_values(
    admin_client, fake_openai
):
    CompatibleProvider.objects.create(
        name="Gateway",
        base_url=fake_openai.base_url,
        api_key=STORED_KEY,
        custom_headers=json.dumps({"X-Org": "org-Oo1Rr2Gg3"}),
    )
    fake_openai.models_error = HttpError(403, "Key {key} may not list models.")

    html = unescape(
        press_test_connection(admin_client, open_form(admin_client), "providers-0").text
    )

    request = fake_openai.requests[-1]
    assert fake_openai.api_key_of(request) == STORED_KEY
    assert request.headers["x-org"] == "org-Oo1Rr2Gg3"
    assert "Connection failed:" in html
    assert STORED_KEY not in html


def test_bad_base_url_is_reported_before_any_request(admin_client, fake_openai):
    form = open_form(admin_client)
    form = form_data(admin_client.post(URL, form.post("add_provider:")).text)
    form.set("providers-0-base_url", "ftp://nowhere")
    html = press_test_connection(admin_client, form, "providers-0").text
    assert "Base URL: Enter an http:// or https:// URL" in html
    assert not fake_openai.requests


def test_without_javascript_the_result_appears_in_the_page(admin_client, settings, fake_openai):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    form = open_form(admin_client)
    form.set("openai_api_key", TYPED_KEY)
    response = admin_client.post(URL, form.post("test:openai"))
    assert response.status_code == 200
    assert "Connected: 3 models available." in response.text
    assert AISettings.load().openai_api_key == ""
    assert TYPED_KEY not in response.text
