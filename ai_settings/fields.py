"""Encrypted model fields for secrets (API keys, custom header values).

Built on django-fernet-fields-v2: the first of FERNET_KEYS encrypts, every key decrypts.
A value that no configured key can decrypt reads as UNDECRYPTABLE instead of raising, so a
lost key shows as "cannot be decrypted — enter it again" rather than a 500.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from fernet_fields import EncryptedTextField


class _Undecryptable(str):
    """A str subclass so templates and forms treat it as text; identity marks it."""

    def __repr__(self) -> str:
        return "UNDECRYPTABLE"


UNDECRYPTABLE = _Undecryptable("")


class SecretField(EncryptedTextField):
    """Fernet-encrypted text that never raises on read."""

    def from_db_value(self, value, expression, connection, *args):
        try:
            return super().from_db_value(value, expression, connection, *args)
        except InvalidToken:
            return UNDECRYPTABLE

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, "ai_settings.fields.SecretField", args, kwargs
