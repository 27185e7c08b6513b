"""System checks for FERNET_KEYS and unreadable secrets; the read-only audit log in admin."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from ai_settings.models import AISettings, SettingsAuditEntry


def ids(databases=None) -> set[str]:
    return {message.id for message in run_checks(databases=databases)}


def test_empty_fernet_key_is_an_error(settings):
    settings.FERNET_KEYS = ["", "old key"]
    assert "ai_settings.E003" in ids()


def test_duplicate_fernet_key_is_a_warning(settings):
    settings.FERNET_KEYS = ["same", "same"]
    assert "ai_settings.W001" in ids()


def test_good_fernet_keys_pass(settings):
    settings.FERNET_KEYS = ["new", "old"]
    assert not {"ai_settings.E003", "ai_settings.W001"} & ids()


@pytest.mark.django_db
def test_database_check_reports_secrets_no_key_can_decrypt(settings):
    settings.FERNET_KEYS = ["lost"]
    row = AISettings.load()
    row.openai_api_key = "sk-" + "Lost-Key-1234567"
    row.save()
    settings.FERNET_KEYS = ["current"]
    assert "ai_settings.W002" not in ids()  # database checks run only when asked
    assert "ai_settings.W002" in ids(databases=["default"])
    settings.FERNET_KEYS = ["current", "lost"]
    assert "ai_settings.W002" not in ids(databases=["default"])


@pytest.mark.django_db
def test_audit_log_is_read_only_in_admin(client, superuser):
    entry = SettingsAuditEntry.objects.create(
        user=superuser, changes=[{"field": "OpenAI API Key", "change": "set"}]
    )
    client.force_login(superuser)
    listing = client.get("/admin/ai_settings/settingsauditentry/")
    assert listing.status_code == 200
    assert "OpenAI API Key: set" in listing.text
    assert client.get("/admin/ai_settings/settingsauditentry/add/").status_code == 403
    detail = client.get(f"/admin/ai_settings/settingsauditentry/{entry.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.text
