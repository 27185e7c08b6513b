"""“Test connection”: list a provider's models with the key typed on the page (or the stored
one) and report the count, or the provider's error with every secret redacted. Stored secrets
go only to the address they were saved with, and every test is recorded in the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, ValidationError

from ai_settings import audit, catalog, redaction
from ai_settings.current import ProviderConnection, aget_current, provider_connection
from ai_settings.fields import UNDECRYPTABLE, usable_secret
from ai_settings.forms import BUILTIN_KINDS, KEY_LABELS, validate_base_url, validate_secret_text
from ai_settings.page import ProviderBlock, SettingsPage

if TYPE_CHECKING:
    from django.forms import BoundField

    from prompts.users import User

TIMEOUT_SECONDS = 10
BASE_URL_CHANGED = (
    "The Base URL differs from the saved one, so the stored key and header values were not "
    "sent: they go only to the saved address. Type them again to test the new address."
)


@dataclass(frozen=True)
class ConnectionResult:
    target: str
    ok: bool
    models: tuple[str, ...] = ()
    error: str = ""
    allowed: frozenset[str] = frozenset()  # already on the page: no "add" button for these
    kind: str = ""  # the built-in provider's kind; "" for an OpenAI-compatible provider
    index: int | None = None  # the compatible provider's row on the page
    notice: str = ""  # why stored secrets were left out


@dataclass(frozen=True)
class Plan:
    """What a test sends: the connection built from the page's values, or why there is none."""

    connection: ProviderConnection | None
    error: str = ""
    allowed: frozenset[str] = frozenset()
    kind: str = ""
    index: int | None = None
    notice: str = ""


def _typed(bound: BoundField) -> str:
    return str(bound.value() or "").strip()


def _checked_key(key: str) -> str:
    try:
        validate_secret_text(key)
    except ValidationError as error:
        return f"The key is not valid: {error.messages[0]}"
    return ""


def _builtin_plan(page: SettingsPage, kind: str) -> Plan:
    form = page.provider_form(kind)
    allowed = frozenset(form["allowed_models"].value() or [])
    stored = page.row.api_key_for(kind)
    key = _typed(form["api_key"])
    if not key and not form["api_key_remove"].data:
        key = usable_secret(stored)
    if not key:
        if stored is UNDECRYPTABLE:
            return Plan(None, "The stored key cannot be decrypted — enter it again.")
        return Plan(None, f"Enter the {KEY_LABELS[kind]} first.")
    if problem := _checked_key(key):
        return Plan(None, problem)
    return Plan(provider_connection(kind, key), allowed=allowed, kind=kind)


def _address(url: str) -> tuple[str, str, str, str]:
    """A Base URL as compared with the saved one: case-blind scheme and host, no trailing /."""
    parts = urlsplit(url.strip())
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query)


def _compatible_plan(block: ProviderBlock) -> Plan:
    form = block.form
    base_url = _typed(form["base_url"])
    try:
        validate_base_url(base_url)
    except ValidationError as error:
        return Plan(None, f"Base URL: {error.messages[0]}", index=block.index)
    # Stored secrets are sent only to the address they were saved with.
    moved = block.stored is not None and _address(base_url) != _address(block.stored.base_url)
    withheld = False
    key = _typed(form["api_key"])
    if not key and not form["api_key_remove"].data:
        if block.stored is None:
            key = block.preset.api_key
        elif moved:
            withheld = bool(usable_secret(block.stored.api_key))
        else:
            key = usable_secret(block.stored.api_key)
    if key and (problem := _checked_key(key)):
        return Plan(None, problem, index=block.index)
    if not block.headers.is_valid():
        return Plan(None, "Correct the custom headers first.", index=block.index)
    stored_headers = {} if moved else block.stored_headers or {}
    headers = {}
    for header in block.headers.forms:
        if header.cleaned_data.get("DELETE") or not header.cleaned_data.get("name"):
            continue
        cleaned = header.cleaned_data
        value = cleaned["value"] or stored_headers.get(cleaned["original_name"], "")
        if moved and not value and (block.stored_headers or {}).get(cleaned["original_name"]):
            withheld = True
            continue
        headers[cleaned["name"]] = value
    allowed = frozenset(
        str(row["model_id"].value() or "").strip() for row in block.models.forms
    ) - {""}
    connection = provider_connection(
        catalog.COMPATIBLE,
        key,
        provider_pk=block.stored.pk if block.stored else None,
        name=block.title,
        base_url=base_url,
        headers=headers,
    )
    notice = BASE_URL_CHANGED if withheld else ""
    return Plan(connection, allowed=allowed, index=block.index, notice=notice)


def plan(page: SettingsPage, target: str) -> Plan:
    if target in BUILTIN_KINDS:
        return _builtin_plan(page, target)
    block = page.block(target)
    if block is None:
        return Plan(None, "That provider is not on the page.")
    return _compatible_plan(block)


def _audited_address(url: str | None, label: str) -> str:
    """The address as the audit log shows it: no user name, password or query string."""
    if not url:
        return f"{label}'s default address"
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


class ListingRefused(Exception):
    """The provider refused to list its models; the message is readable, not yet redacted."""


class ModelLister(Protocol):
    async def __call__(self, connection: ProviderConnection) -> Sequence[str]:
        """The provider's model ids; raises ListingRefused."""
        ...


# The provider adapters live in the assistant app, above this one in the import order: it
# registers how to list a provider's models when it is ready (AssistantConfig.ready).
_model_lister: ModelLister | None = None


def register_model_lister(lister: ModelLister) -> None:
    global _model_lister
    _model_lister = lister


async def run(page: SettingsPage, target: str, user: User) -> ConnectionResult:
    if _model_lister is None:
        raise ImproperlyConfigured("Test connection needs the assistant app in INSTALLED_APPS.")
    found = plan(page, target)
    result = ConnectionResult(
        target,
        False,
        allowed=found.allowed,
        kind=found.kind,
        index=found.index,
        notice=found.notice,
    )
    connection = found.connection
    if connection is None:
        return replace(result, error=found.error)
    redaction.remember_settings(await aget_current())
    secrets = redaction.secrets_of(connection)  # typed on the page, or stored
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            model_ids = await _model_lister(connection)
    except ListingRefused as refused:
        result = replace(result, error=redaction.redact(str(refused), secrets))
    except TimeoutError:
        result = replace(
            result, error=f"The provider did not answer within {TIMEOUT_SECONDS} seconds."
        )
    else:
        result = replace(result, ok=True, models=tuple(model_ids))
    address = redaction.redact(_audited_address(connection.base_url, connection.label), secrets)
    await sync_to_async(audit.record_connection_test)(user, connection.label, address, ok=result.ok)
    return result
