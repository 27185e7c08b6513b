"""The apps' settings: defaults of their own, the host's values when set, and overrides."""

from __future__ import annotations

import pytest
from django.test import override_settings

from ai_settings.conf import DEFAULTS, app_settings


def test_every_setting_has_a_default_when_the_host_sets_none(settings):
    for name in DEFAULTS:
        if hasattr(settings, name):
            delattr(settings, name)
    assert app_settings.AI_ENABLED is True
    assert app_settings.PROVIDER_CONNECT_TIMEOUT == 10.0
    assert app_settings.PROVIDER_IDLE_TIMEOUT == 120.0
    assert app_settings.OPENAI_BASE_URL is None


def test_a_host_value_wins_and_override_settings_is_honoured():
    with override_settings(PROVIDER_IDLE_TIMEOUT=5.0):
        assert app_settings.PROVIDER_IDLE_TIMEOUT == 5.0
    with override_settings(PROVIDER_IDLE_TIMEOUT=7.0):
        assert app_settings.PROVIDER_IDLE_TIMEOUT == 7.0


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="not a setting"):
        app_settings.AI_ENABLD  # noqa: B018
