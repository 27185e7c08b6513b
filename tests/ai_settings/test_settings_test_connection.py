"""“Test connection” on Settings → AI: the real SDKs list models from the fake providers with
the key typed on the page or the stored one; errors come back with the key redacted."""

from __future__ import annotations

import json
from html import unescape

import pytest

from ai_settings.models import AISettings, CompatibleProvider
from tests.fakes.script import HttpError, Raw
from tests.support.live_server import free_port
from tests.support.settings_page import URL, form_data, open_form

pytestmark = pytest.mark.django_db

TEST_URL = "/settings/ai/test-connection/"
TYPED_KEY = "sk-" + "typed-Tt1Yy2Pp3Ee4Dd5"
STORED_KEY = "sk-" + "stored-Ss1Tt2Oo3Rr4Ee5"
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
    form.set(f"{kind}-api_key", TYPED_KEY)

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
    form.set(f"{kind}-api_key", TYPED_KEY)

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
    form.set("openai-api_key", TYPED_KEY)

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
    form.set("anthropic-api_key", TYPED_KEY)
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
    form.set("openai-api_key", TYPED_KEY)
    response = admin_client.post(URL, form.post("test:openai"))
    assert response.status_code == 200
    assert "Connected: 3 models available." in response.text
    assert AISettings.load().openai_api_key == ""
    assert TYPED_KEY not in response.text


# -- stored secrets go only where they were saved ------------------------------------------------

STORED_HEADER = "org-" + "Stored1Hh2Ee3Aa4Dd5"


def _stored_gateway(fake) -> CompatibleProvider:
    return CompatibleProvider.objects.create(
        name="Gateway",
        base_url=fake.base_url,
        api_key=STORED_KEY,
        custom_headers=json.dumps({"X-Org": STORED_HEADER}),
    )


def _elsewhere(fake) -> str:
    """The same fake server under another address (localhost instead of 127.0.0.1)."""
    return fake.base_url.replace("127.0.0.1", "localhost")


def test_changed_base_url_sends_no_stored_key_or_header_and_says_why(admin_client, fake_openai):
    _stored_gateway(fake_openai)
    form = open_form(admin_client)
    form.set("providers-0-base_url", _elsewhere(fake_openai))

    html = unescape(press_test_connection(admin_client, form, "providers-0").text)

    request = fake_openai.requests[-1]
    assert request.headers["host"].startswith("localhost")
    assert fake_openai.api_key_of(request) == "not-needed"  # the SDK's placeholder, not ours
    assert "x-org" not in request.headers
    assert STORED_KEY not in request.raw.decode() + json.dumps(request.headers)
    assert STORED_HEADER not in json.dumps(request.headers)
    assert "The Base URL differs from the saved one" in html
    assert "Type them again to test the new address." in html


def test_secrets_typed_on_the_page_are_sent_to_a_changed_base_url(admin_client, fake_openai):
    _stored_gateway(fake_openai)
    form = open_form(admin_client)
    form.set("providers-0-base_url", _elsewhere(fake_openai))
    form.set("providers-0-api_key", TYPED_KEY)
    form.set("providers-0-headers-0-value", "org-" + "Typed9Zz8Yy7Xx6")

    html = unescape(press_test_connection(admin_client, form, "providers-0").text)

    request = fake_openai.requests[-1]
    assert fake_openai.api_key_of(request) == TYPED_KEY
    assert request.headers["x-org"] == "org-" + "Typed9Zz8Yy7Xx6"
    assert "Connected: 3 models available." in html
    assert "The Base URL differs" not in html


def test_a_trailing_slash_is_the_same_base_url(admin_client, fake_openai):
    _stored_gateway(fake_openai)
    form = open_form(admin_client)
    form.set("providers-0-base_url", fake_openai.base_url + "/")

    html = unescape(press_test_connection(admin_client, form, "providers-0").text)

    request = fake_openai.requests[-1]
    assert fake_openai.api_key_of(request) == STORED_KEY
    assert request.headers["x-org"] == STORED_HEADER
    assert "Connected: 3 models available." in html and "The Base URL differs" not in html


def test_every_test_connection_is_recorded_in_the_audit_log(
    admin_client, superuser, settings, fake_openai
):
    from ai_settings.models import SettingsAuditEntry

    settings.OPENAI_BASE_URL = fake_openai.base_url
    _stored_gateway(fake_openai)
    form = open_form(admin_client)
    form.set("openai-api_key", TYPED_KEY)
    press_test_connection(admin_client, form, "openai")
    fake_openai.models_error = HttpError(401, "Incorrect API key provided: {key}.")
    press_test_connection(admin_client, form, "providers-0")
    admin_client.post(URL, form.post("test:openai"))  # without JavaScript

    entries = [e.changes[0] | {"user": e.user} for e in SettingsAuditEntry.objects.order_by("id")]

    assert [(e["provider"], e["url"], e["outcome"], e["user"]) for e in entries] == [
        ("OpenAI", fake_openai.base_url, "ok", superuser),
        ("Gateway", fake_openai.base_url, "error", superuser),
        ("OpenAI", fake_openai.base_url, "error", superuser),
    ]
    assert entries[0]["field"] == "Test connection to OpenAI"
    assert entries[1]["change"] == f"failed at {fake_openai.base_url}"
    stored = json.dumps([e.changes for e in SettingsAuditEntry.objects.all()])
    for secret in (TYPED_KEY, STORED_KEY, STORED_HEADER):
        assert secret[:8] not in stored and secret[-8:] not in stored
    page = unescape(admin_client.get(URL).text)
    assert f"Test connection to Gateway: failed at {fake_openai.base_url}" in page


def test_the_audit_log_shows_no_password_or_query_of_a_base_url(admin_client, fake_openai):
    from ai_settings.models import SettingsAuditEntry

    form = open_form(admin_client)
    form = form_data(admin_client.post(URL, form.post("add_provider:")).text)
    secret_url = fake_openai.base_url.replace("http://", "http://admin:hunter2hunter2@")
    form.set("providers-0-base_url", secret_url + "?token=tok-0123456789abcdef")
    form.set("providers-0-models-0-model_id", "m")

    press_test_connection(admin_client, form, "providers-0")

    [entry] = SettingsAuditEntry.objects.all()
    assert entry.changes[0]["url"] == fake_openai.base_url
    assert "hunter2" not in json.dumps(entry.changes) and "tok-01234" not in json.dumps(
        entry.changes
    )


def test_a_base_url_with_a_port_that_is_not_a_number_is_a_readable_error(admin_client):
    form = open_form(admin_client)
    form = form_data(admin_client.post(URL, form.post("add_provider:")).text)
    form.set("providers-0-base_url", "http://127.0.0.1:port/v1")
    form.set("providers-0-models-0-model_id", "m")

    html = unescape(press_test_connection(admin_client, form, "providers-0").text)

    assert "Base URL: Enter an http:// or https:// URL" in html


NOT_PROVIDERS = [
    pytest.param(None, id="a-web-page"),
    pytest.param(
        Raw(b'{"status": "ok", "items": [{"name": "Welcome to our intranet"}]}',
            content_type="application/json"),
        id="json-of-another-shape",
    ),
    pytest.param(
        Raw(b"<html><body><h1>404 Welcome to our intranet: no such page</h1></body></html>",
            status=404, content_type="text/html"),
        id="a-404-page",
    ),
    pytest.param(
        Raw(b'{"detail": "Welcome to our intranet: Not Found"}', status=404,
            content_type="application/json"),
        id="a-json-404",
    ),
    pytest.param(
        Raw(b'{"detail": "Welcome to our intranet: sign in first"}', status=401,
            content_type="application/json"),
        id="another-apis-json-error",
    ),
]  # fmt: skip


@pytest.mark.parametrize("page", NOT_PROVIDERS)
def test_something_that_is_not_an_openai_compatible_api_is_told_without_its_body(
    admin_client, fake_website, page
):
    if page is not None:
        fake_website.page = page
    form = open_form(admin_client)
    form = form_data(admin_client.post(URL, form.post("add_provider:")).text)
    form.set("providers-0-base_url", fake_website.url + "/v1")
    form.set("providers-0-api_key", TYPED_KEY)

    html = unescape(press_test_connection(admin_client, form, "providers-0").text)

    assert fake_website.requests[-1].path == "/v1/models"
    assert "Connection failed:" in html
    assert "this does not look like an OpenAI-compatible API" in html
    assert "Welcome" not in html and "intranet" not in html


def test_a_stored_builtin_key_goes_to_the_gateway_base_url_from_settings(
    admin_client, settings, fake_openai
):
    """Built-in providers have no Base URL on the page: the deployment's setting is theirs."""
    settings.OPENAI_BASE_URL = fake_openai.base_url
    row = AISettings.load()
    row.openai_api_key = STORED_KEY
    row.save()

    html = press_test_connection(admin_client, open_form(admin_client), "openai").text

    assert fake_openai.api_key_of(fake_openai.requests[-1]) == STORED_KEY
    assert "Connected: 3 models available." in html and "The Base URL differs" not in html


# -- partial echoes of secrets --------------------------------------------------------------

KEY_ECHOES = {
    "key-minus-last-two": "Incorrect API key provided: {key[:-2]}",
    "middle-twelve": "Key …{key[6:18]}… is not valid",
}
# Built-in providers send no custom headers: the header echo is the compatible provider's.
ECHOES = [
    *(
        pytest.param(target, echo, id=f"{target}-{name}")
        for target in ("openai", "anthropic", "google", "providers-0")
        for name, echo in KEY_ECHOES.items()
    ),
    pytest.param(
        "providers-0", "Gateway token {header:X-Org[2:]} is unknown",
        id="providers-0-header-minus-first-two",
    ),
]  # fmt: skip


# Keys of no known shape (not sk-…, AIza…): only the redaction of their runs can hide them.
UNSHAPED_TYPED_KEY = "typed-" + "Relay1Aa2Bb3Cc4Dd5Ee6"
UNSHAPED_STORED_KEY = "vault-" + "Relay9Zz8Yy7Xx6Ww5Vv4"


def _runs(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


@pytest.mark.parametrize(("target", "echo"), ECHOES)
def test_partial_echoes_of_secrets_never_reach_the_result_or_the_logs(
    admin_client, request, settings, caplog, target, echo
):
    import logging

    kind = "openai" if target == "providers-0" else target
    fake = request.getfixturevalue(FAKES[kind])
    setattr(settings, f"{kind.upper()}_BASE_URL", fake.base_url)
    row = AISettings.load()
    setattr(row, f"{kind}_api_key", UNSHAPED_STORED_KEY)
    row.save()
    CompatibleProvider.objects.create(
        name="Gateway",
        base_url=fake.base_url,
        api_key=UNSHAPED_STORED_KEY,
        custom_headers=json.dumps({"X-Org": STORED_HEADER}),
    )
    fake.models_error = HttpError(400, echo)
    form = open_form(admin_client)
    if target != "providers-0":  # a key typed on the page is redacted too
        form.set(f"{kind}-api_key", UNSHAPED_TYPED_KEY)

    with caplog.at_level(logging.DEBUG):
        html = unescape(press_test_connection(admin_client, form, target).text)

    sent = fake.requests[-1]
    key = fake.api_key_of(sent)
    assert key == (UNSHAPED_STORED_KEY if target == "providers-0" else UNSHAPED_TYPED_KEY)
    assert "Connection failed:" in html and "[redacted]" in html
    for secret in (key, UNSHAPED_STORED_KEY, STORED_HEADER):
        for run in _runs(secret):
            assert run not in html, (run, html)
            assert run not in caplog.text, run
