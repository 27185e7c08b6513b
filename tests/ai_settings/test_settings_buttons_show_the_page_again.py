"""Settings → AI without JavaScript: a button that saves nothing ("Add …", "Allow", "Test
connection") shows the posted page again, every value as posted, rows that were new still
new, and no errors yet."""

from __future__ import annotations

from html import unescape

import pytest
from django.http import QueryDict

from ai_settings import connection_test
from ai_settings.current import get_current
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider
from ai_settings.page import SettingsPage, load_providers
from tests.support.settings_page import URL, form_data, open_form

pytestmark = pytest.mark.django_db

STORED_KEY = "sk-" + "stored-Kk1Ee2Yy3Ss4Tt5"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def saved_provider():
    provider = CompatibleProvider.objects.create(
        name="Local", base_url="http://127.0.0.1:9/v1", api_key=STORED_KEY,
        custom_headers='{"X-Team": "team-secret-value"}',
    )  # fmt: skip
    CompatibleModel.objects.create(provider=provider, model_id="local-model")
    return provider


def test_rows_added_by_a_button_stay_new_rows(admin_client, saved_provider):
    form = open_form(admin_client)
    form = form_data(admin_client.post(URL, form.post("add_provider:ollama")).text)
    response = admin_client.post(URL, form.post("add_model:0"))

    again = form_data(response.text)
    assert (again.get("providers-INITIAL_FORMS"), again.get("providers-TOTAL_FORMS")) == ("1", "2")
    assert again.get("providers-0-models-INITIAL_FORMS") == "1"
    assert again.get("providers-0-models-TOTAL_FORMS") == "2"
    assert again.get("providers-1-models-INITIAL_FORMS") == "0"
    assert again.get("providers-1-models-TOTAL_FORMS") == "1"
    assert again.get("providers-1-name") == "Ollama"


def test_a_box_unticked_before_the_button_stays_unticked(admin_client):
    AISettings.objects.filter(pk=AISettings.load().pk).update(mcp_enabled=True)
    form = open_form(admin_client)
    form.remove("mcp_enabled")
    form.remove("openai-allowed_models", "gpt-5")

    again = form_data(admin_client.post(URL, form.post("add_provider:")).text)

    assert again.get("mcp_enabled") is None
    assert again.getlist("openai-allowed_models") == ["gpt-5-nano", "gpt-5-mini"]


def test_a_row_marked_for_removal_stays_marked(admin_client, saved_provider):
    form = open_form(admin_client)
    form.set("providers-0-models-0-DELETE", "on")

    again = form_data(admin_client.post(URL, form.post("add_header:0")).text)

    assert again.get("providers-0-models-0-DELETE") == "on"
    assert again.get("providers-0-headers-TOTAL_FORMS") == "2"


def test_the_page_shown_again_reports_no_errors_but_saving_it_does(admin_client):
    form = open_form(admin_client)
    form.set("rate_limit_per_minute", "many")
    form.set("openai-custom_models", "gpt six")

    response = admin_client.post(URL, form.post("start_from_default"))
    assert response.status_code == 200
    assert "errorlist" not in response.text
    assert 'aria-invalid="true"' not in response.text

    response = admin_client.post(URL, form_data(response.text).post())
    assert response.status_code == 400
    assert "must be a positive whole number" in unescape(response.text)


def test_saved_and_typed_settings_build_the_same_connection(admin_client, saved_provider):
    row = AISettings.load()
    row.openai_api_key = STORED_KEY
    row.save()
    saved = get_current().connections
    posted = QueryDict(mutable=True)
    for name, value in open_form(admin_client).pairs:  # nothing typed: the stored values
        posted.appendlist(name, value)
    page = SettingsPage.build(row, load_providers(), posted)

    for target, key in (("openai", "openai"), ("providers-0", f"compat-{saved_provider.pk}")):
        typed = connection_test.plan(page, target).connection
        assert typed is not None
        assert (typed.key, typed.kind, typed.label, typed.api_key, typed.base_url) == (
            saved[key].key,
            saved[key].kind,
            saved[key].label,
            saved[key].api_key,
            saved[key].base_url,
        )
        assert typed.headers == saved[key].headers
