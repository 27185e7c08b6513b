"""Encrypted model fields for secrets (API keys, custom header values).

Built on django-fernet-fields-v2: the first of FERNET_KEYS encrypts, every key decrypts.
A value that no configured key can decrypt reads as UNDECRYPTABLE instead of raising, so a
lost key shows as "cannot be decrypted — enter it again" rather than a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.signals import setting_changed
from django.dispatch import receiver
from fernet_fields import EncryptedField

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Expression, TextField

    class EncryptedTextField(TextField[str, str]):
        """fernet_fields ships no types: to the type checker, its EncryptedTextField is the
        TextField it extends, with the from_db_value that decrypts."""

        def from_db_value(
            self,
            value: bytes | memoryview | None,
            expression: Expression,
            connection: BaseDatabaseWrapper,
            *args: object,
        ) -> str | None: ...

else:
    from fernet_fields import EncryptedTextField


class _Undecryptable(str):
    """A str subclass so templates and forms treat it as text; identity marks it."""

    def __repr__(self) -> str:
        return "UNDECRYPTABLE"


UNDECRYPTABLE = _Undecryptable("")


def usable_secret(value: str | None) -> str:
    """A stored secret as the text to send: "" when it is empty or cannot be decrypted."""
    return "" if value is UNDECRYPTABLE else (value or "")


class SecretField(EncryptedTextField):
    """Fernet-encrypted text that never raises on read."""

    def from_db_value(
        self,
        value: bytes | memoryview | None,
        expression: Expression,
        connection: BaseDatabaseWrapper,
        *args: object,
    ) -> str | None:
        try:
            return super().from_db_value(value, expression, connection, *args)
        except InvalidToken:
            return UNDECRYPTABLE

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "ai_settings.fields.SecretField", args, kwargs


_CACHED_KEY_ATTRIBUTES = ("keys", "fernet_keys", "fernet")


def forget_cached_keys() -> None:
    """fernet_fields caches the keys and the Fernet object on each field instance; drop them
    so the next read or write uses the FERNET_KEYS now configured."""
    if not apps.models_ready:
        return
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, EncryptedField):
                for name in _CACHED_KEY_ATTRIBUTES:
                    model_field.__dict__.pop(name, None)


@receiver(setting_changed)
def _forget_keys_when_settings_change(*, setting: str, **kwargs: Any) -> None:
    # override_settings / pytest-django's `settings` fixture send this signal.
    if setting in {"FERNET_KEYS", "SECRET_KEY", "FERNET_USE_HKDF"}:
        forget_cached_keys()
