"""The settings audit log: who changed which fields and when, and who tested which provider's
connection at which address. Secrets appear only as "set" or "removed", never with their
values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from ai_settings.models import SettingsAuditEntry

if TYPE_CHECKING:
    from prompts.users import AnyUser

RECENT_ENTRIES = 20


def entry(field: str, change: str) -> dict[str, str]:
    return {"field": field, "change": change}


def list_change(old: Sequence[str], new: Sequence[str]) -> str:
    added = [item for item in new if item not in old]
    removed = [item for item in old if item not in new]
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return "; ".join(parts) or "reordered"


def text_change(old: str, new: str) -> str:
    if not new:
        return "cleared"
    return "set" if not old else "changed"


def toggle(new: bool) -> str:
    return "turned on" if new else "turned off"


def number_change(old: int | None, new: int | None) -> str:
    def show(value: int | None) -> str:
        return "none" if value is None else f"{value:,}"

    return f"{show(old)} → {show(new)}"


def record(user: AnyUser | None, changes: list[dict[str, str]]) -> SettingsAuditEntry:
    return SettingsAuditEntry.objects.create(
        user=user if user is not None and user.is_authenticated else None, changes=changes
    )


def record_connection_test(user: AnyUser | None, provider: str, address: str, *, ok: bool) -> None:
    """One press of Test connection. `address` must already be free of secrets."""
    outcome = "ok" if ok else "error"
    record(
        user,
        [
            {
                "field": f"Test connection to {provider}",
                "change": f"{'connected' if ok else 'failed'} at {address}",
                "provider": provider,
                "url": address,
                "outcome": outcome,
            }
        ],
    )


def recent() -> QuerySet[SettingsAuditEntry]:
    return SettingsAuditEntry.objects.select_related("user")[:RECENT_ENTRIES]
