"""How a stored secret is described on the page: never its value, at most its last four
characters, and only for keys long enough that four characters give little away."""

from __future__ import annotations

from dataclasses import dataclass

from ai_settings.fields import UNDECRYPTABLE

# Shorter values (e.g. Ollama's placeholder "ollama") are shown only as "set".
MIN_LENGTH_FOR_LAST_FOUR = 12

NOT_SET, SET, UNREADABLE = "not set", "set", "undecryptable"


@dataclass(frozen=True)
class SecretStatus:
    state: str  # NOT_SET, SET or UNREADABLE
    last_four: str = ""

    @property
    def is_set(self) -> bool:
        return self.state == SET

    @property
    def is_undecryptable(self) -> bool:
        return self.state == UNREADABLE

    @property
    def is_stored(self) -> bool:
        return self.state != NOT_SET

    def describe(self) -> str:
        if self.state == UNREADABLE:
            return "cannot be decrypted — enter it again"
        if self.state == SET:
            return f"set · ends in {self.last_four}" if self.last_four else "set"
        return "not set"


def secret_status(value: str | None) -> SecretStatus:
    if value is UNDECRYPTABLE:
        return SecretStatus(UNREADABLE)
    if not value:
        return SecretStatus(NOT_SET)
    last_four = value[-4:] if len(value) >= MIN_LENGTH_FOR_LAST_FOUR else ""
    return SecretStatus(SET, last_four)
