"""System checks for configuration that would otherwise fail at request time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from ai_settings.rotation import count_undecryptable


@register(Tags.security, deploy=False)
def check_production_secrets(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[CheckMessage] = []
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY
        secret_key = ""
    if not secret_key:
        errors.append(
            Error(
                "SECRET_KEY is not set.",
                hint="Set SECRET_KEY in the environment to a long random string, e.g. the output "
                "of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                id="ai_settings.E001",
            )
        )
    if not getattr(settings, "FERNET_KEYS", None):
        errors.append(
            Error(
                "FERNET_KEYS is not set: provider API keys cannot be encrypted.",
                hint="Set FERNET_KEYS to a comma-separated list of secrets; the first encrypts, "
                "all decrypt. Keep old keys at the end while rotating (manage.py rotate_ai_keys).",
                id="ai_settings.E002",
            )
        )
    return errors


@register(Tags.security)
def check_fernet_keys(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    keys = list(getattr(settings, "FERNET_KEYS", None) or [])
    problems: list[CheckMessage] = []
    if any(not str(key).strip() for key in keys):
        problems.append(
            Error(
                "FERNET_KEYS contains an empty key.",
                hint="Remove the empty entry (look for a leading, trailing or doubled comma): "
                "the first key encrypts every provider API key.",
                id="ai_settings.E003",
            )
        )
    if len(set(keys)) != len(keys):
        problems.append(
            Warning(
                "FERNET_KEYS lists the same key twice.",
                hint="Keep each key once: the new key first, old keys after it while rotating.",
                id="ai_settings.W001",
            )
        )
    return problems


@register(Tags.database)
def check_secrets_decryptable(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Run by `manage.py check --database default` (and migrate): secrets a lost key left
    unreadable."""
    if not databases or "default" not in databases:
        return []
    try:
        unreadable = count_undecryptable()
    except DatabaseError:  # tables not created yet (before the first migrate)
        return []
    if not unreadable:
        return []
    return [
        Warning(
            f"{unreadable} stored AI secret(s) cannot be decrypted with FERNET_KEYS.",
            hint="Add the key they were written with back to FERNET_KEYS (after the first), or "
            "enter those keys again on Settings → AI, where they show as “cannot be decrypted”.",
            id="ai_settings.W002",
        )
    ]
