"""System checks for configuration that would otherwise fail at request time."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=False)
def check_production_secrets(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
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
