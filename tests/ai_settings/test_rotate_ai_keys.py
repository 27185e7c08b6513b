"""Key rotation: FERNET_KEYS=new,old reads old values; rotate_ai_keys re-encrypts them all
under the new key and reports counts; unreadable values are counted and left alone."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from fernet_fields.hkdf import derive_fernet_key

from ai_settings.fields import UNDECRYPTABLE
from ai_settings.models import AISettings, CompatibleProvider
from tests.support.settings_page import raw_column

pytestmark = pytest.mark.django_db

OLD, NEW, LOST = "old fernet key", "new fernet key", "a key nobody has any more"
OPENAI_KEY = "sk-" + "rotate-Aa1Bb2Cc3Dd4"
COMPAT_KEY = "compat-rotate-Ee5Ff6Gg7"
HEADERS = {"X-Token": "hdr-rotate-Hh8Ii9"}


def fernet(key: str) -> Fernet:
    return Fernet(derive_fernet_key(key))


def rotate() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rotate_ai_keys", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def secrets_under_old_key(settings):
    settings.FERNET_KEYS = [OLD]
    row = AISettings.load()
    row.openai_api_key = OPENAI_KEY  # anthropic and google stay empty
    row.save()
    provider = CompatibleProvider.objects.create(
        name="Gateway",
        base_url="https://gw.example.com/v1",
        api_key=COMPAT_KEY,
        custom_headers=json.dumps(HEADERS),
    )
    return row, provider


def test_values_written_under_the_old_key_still_read_with_new_first(
    settings, secrets_under_old_key
):
    row, provider = secrets_under_old_key
    settings.FERNET_KEYS = [NEW, OLD]
    row.refresh_from_db()
    provider.refresh_from_db()
    assert row.openai_api_key == OPENAI_KEY
    assert provider.api_key == COMPAT_KEY
    assert json.loads(provider.custom_headers) == HEADERS


def test_rotate_reencrypts_every_secret_under_the_first_key(settings, secrets_under_old_key):
    row, provider = secrets_under_old_key
    version = AISettings.load().version
    settings.FERNET_KEYS = [NEW, OLD]

    out, err = rotate()

    assert "Re-encrypted 3 secret(s)" in out
    assert "2 empty" in out and "0 undecryptable" in out
    assert err == ""
    raw = raw_column("ai_settings_aisettings", "openai_api_key", row.pk)
    assert fernet(NEW).decrypt(raw).decode() == OPENAI_KEY
    with pytest.raises(InvalidToken):
        fernet(OLD).decrypt(raw)
    raw_headers = raw_column("ai_settings_compatibleprovider", "custom_headers", provider.pk)
    assert json.loads(fernet(NEW).decrypt(raw_headers)) == HEADERS
    # Empty values are ciphertext too: they move to the new key as well.
    raw_empty = raw_column("ai_settings_aisettings", "google_api_key", row.pk)
    assert fernet(NEW).decrypt(raw_empty) == b""
    assert AISettings.load().version == version + 1

    settings.FERNET_KEYS = [NEW]  # the old key can go
    row.refresh_from_db()
    provider.refresh_from_db()
    assert row.openai_api_key == OPENAI_KEY and row.google_api_key == ""
    assert provider.api_key == COMPAT_KEY
    assert json.loads(provider.custom_headers) == HEADERS


def test_rotate_counts_and_keeps_undecryptable_values(settings, secrets_under_old_key):
    row, _ = secrets_under_old_key
    settings.FERNET_KEYS = [LOST]
    row.anthropic_api_key = "sk-" + "ant-lost-Jj1Kk2"
    row.save(update_fields=["anthropic_api_key"])
    lost_raw = raw_column("ai_settings_aisettings", "anthropic_api_key", row.pk)
    settings.FERNET_KEYS = [NEW, OLD]

    out, err = rotate()

    assert "1 undecryptable" in out
    assert "enter them again on Settings → AI" in err
    assert raw_column("ai_settings_aisettings", "anthropic_api_key", row.pk) == lost_raw
    row.refresh_from_db()
    assert row.anthropic_api_key is UNDECRYPTABLE
    assert row.openai_api_key == OPENAI_KEY


def test_rotate_with_nothing_stored_reports_zero(settings):
    settings.FERNET_KEYS = [NEW]
    out, _ = rotate()
    assert "Re-encrypted 0 secret(s)" in out
