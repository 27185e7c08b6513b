"""Saving Settings → AI: everything in one transaction, checked against the version the form
was rendered with, recorded in the audit log, and the settings version bumped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models, transaction

from ai_settings import audit, catalog, presets
from ai_settings.current import bump_version
from ai_settings.fields import UNDECRYPTABLE
from ai_settings.forms import KEY_LABELS
from ai_settings.masking import secret_status
from ai_settings.models import (
    ALLOWED_MODELS_FIELDS,
    API_KEY_FIELDS,
    AISettings,
    CompatibleModel,
    CompatibleProvider,
)
from ai_settings.page import ProviderBlock, SettingsPage

if TYPE_CHECKING:
    from prompts.users import User

STALE_MESSAGE = "The settings changed since you opened this page, so nothing was saved."


class StaleSettings(Exception):
    """Someone saved the settings after this form was rendered."""


@dataclass(frozen=True)
class SecretChange:
    value: str
    word: str  # "set" or "removed"


def secret_change(old: str, new: str, remove: bool) -> SecretChange | None:
    if new:
        if old is not UNDECRYPTABLE and new == old:
            return None
        return SecretChange(new, "set")
    if remove and secret_status(old).is_stored:
        return SecretChange("", "removed")
    return None


def save(page: SettingsPage, user: User) -> list[dict[str, str]]:
    """Apply a validated page. Returns the audit changes (empty: nothing changed)."""
    with transaction.atomic():
        AISettings.load()
        row = AISettings.objects.select_for_update().get(pk=1)
        if row.version != page.posted_version:
            raise StaleSettings
        stored = {
            p.pk: p
            for p in CompatibleProvider.objects.select_for_update().prefetch_related("models")
        }
        changes = _save_settings_row(row, page) + _save_providers(page, stored)
        if changes:
            bump_version()
            audit.record(user, changes)
        return changes


def _save_settings_row(row: AISettings, page: SettingsPage) -> list[dict[str, str]]:
    cleaned = page.settings_form.cleaned_data
    changes: list[dict[str, str]] = []
    fields: list[str] = []

    for provider in page.provider_forms:
        kind, typed = provider.kind, provider.cleaned_data
        change = secret_change(row.api_key_for(kind), typed["api_key"], typed["api_key_remove"])
        if change:
            setattr(row, API_KEY_FIELDS[kind], change.value)
            fields.append(API_KEY_FIELDS[kind])
            changes.append(audit.entry(KEY_LABELS[kind], change.word))
        old, new = row.allowed_models_for(kind), provider.chosen_models()
        if new != old:
            setattr(row, ALLOWED_MODELS_FIELDS[kind], new)
            fields.append(ALLOWED_MODELS_FIELDS[kind])
            label = f"{catalog.BUILTIN_PROVIDERS[kind]} Allowed Models"
            changes.append(audit.entry(label, audit.list_change(old, new)))

    for name in ("custom_system_prompt", "mcp_system_prompt"):
        if getattr(row, name) != cleaned[name]:
            changes.append(
                audit.entry(
                    _verbose_name(name), audit.text_change(getattr(row, name), cleaned[name])
                )
            )
            setattr(row, name, cleaned[name])
            fields.append(name)
    for name in ("mcp_enabled", "mcp_allow_deletes", "mcp_system_prompt_enabled"):
        if getattr(row, name) != cleaned[name]:
            changes.append(audit.entry(_verbose_name(name), audit.toggle(cleaned[name])))
            setattr(row, name, cleaned[name])
            fields.append(name)
    for name in ("rate_limit_per_minute", "daily_token_budget"):
        if getattr(row, name) != cleaned[name]:
            changes.append(
                audit.entry(
                    _verbose_name(name), audit.number_change(getattr(row, name), cleaned[name])
                )
            )
            setattr(row, name, cleaned[name])
            fields.append(name)
    collection = cleaned["prompts_collection"]
    if row.prompts_collection_id != (collection.pk if collection else None):
        described = f"set to “{collection}”" if collection else "cleared"
        changes.append(audit.entry(_verbose_name("prompts_collection"), described))
        row.prompts_collection = collection
        fields.append("prompts_collection")

    if fields:
        # Only the changed columns: an undecryptable key that was left alone stays as it is.
        row.save(update_fields=[*fields, "updated_at"])
    return changes


def _verbose_name(name: str) -> str:
    """A field of the settings row as the audit log names it."""
    field = AISettings._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column of the row, not a reverse relation
    return str(field.verbose_name)


def _save_providers(page: SettingsPage, stored: dict[int, CompatibleProvider]) -> list[dict]:
    changes: list[dict[str, str]] = []
    targets: list[tuple[ProviderBlock, CompatibleProvider | None]] = []
    for block in page.blocks:
        provider = stored.get(block.posted_id) if block.posted_id is not None else None
        if block.is_deleted:
            if provider is not None:
                provider.delete()
                changes.append(audit.entry(_provider_label(provider.name), "removed"))
            continue
        if block.in_use:
            targets.append((block, provider))

    # Free the names of renamed providers first, so two providers can swap names.
    for block, provider in targets:
        if provider is not None and provider.name != block.form.cleaned_data["name"]:
            CompatibleProvider.objects.filter(pk=provider.pk).update(
                name=f"~renaming~{provider.pk}"
            )

    for position, (block, provider) in enumerate(targets):
        changes += _save_provider(block, provider, position)
    return changes


def _provider_label(name: str) -> str:
    return f"OpenAI-compatible provider “{name}”"


def _save_provider(
    block: ProviderBlock, provider: CompatibleProvider | None, position: int
) -> list[dict[str, str]]:
    cleaned = block.form.cleaned_data
    label = _provider_label(cleaned["name"])
    changes: list[dict[str, str]] = []
    is_new = provider is None
    if provider is None:
        provider = CompatibleProvider()
        changes.append(audit.entry(label, "added"))
    else:
        if provider.name != cleaned["name"]:
            changes.append(audit.entry(label, f"renamed from “{provider.name}”"))
        if provider.base_url != cleaned["base_url"]:
            changes.append(audit.entry(f"{label} · Base URL", "changed"))
    fields = ["name", "base_url", "position"]
    moved = provider.position != position
    provider.name, provider.base_url, provider.position = (
        cleaned["name"],
        cleaned["base_url"],
        position,
    )

    new_key = cleaned["api_key"] or (presets.preset(cleaned["preset"]).api_key if is_new else "")
    key_change = secret_change(
        "" if is_new else provider.api_key, new_key, cleaned["api_key_remove"]
    )
    if key_change:
        provider.api_key = key_change.value
        fields.append("api_key")
        changes.append(audit.entry(f"{label} · API Key", key_change.word))

    headers = _new_headers(block, {} if is_new else provider.header_values())
    if headers is not None:
        blob, described = headers
        provider.custom_headers = blob
        fields.append("custom_headers")
        changes.append(audit.entry(f"{label} · Custom Headers", described))

    if is_new:
        provider.save()
    elif changes or moved:
        provider.save(update_fields=fields)

    model_change = _save_models(block, provider, is_new)
    if model_change:
        changes.append(audit.entry(f"{label} · Models", model_change))
    return changes


def _new_headers(block: ProviderBlock, old: dict[str, str] | None) -> tuple[str, str] | None:
    """The new encrypted-field text and a description, or None to keep what is stored.
    `old` is None when the stored headers cannot be decrypted."""
    rows = [
        form.cleaned_data
        for form in block.headers.forms
        if not form.cleaned_data.get("DELETE") and form.cleaned_data.get("name")
    ]
    known = old or {}
    new = {row["name"]: row["value"] or known.get(row["original_name"], "") for row in rows}
    if old is None:
        if not rows and not block.form.cleaned_data["clear_headers"]:
            return None
        return (json.dumps(new) if new else ""), "replaced the headers that could not be decrypted"
    if new == old:
        return None
    parts = []
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    changed = [name for name in new if name in old and new[name] != old[name]]
    if added:
        parts.append("added " + ", ".join(added))
    if changed:
        parts.append("new value for " + ", ".join(changed))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return (json.dumps(new) if new else ""), "; ".join(parts) or "reordered"


_MODEL_FIELDS = (
    "model_id",
    "display_name",
    "context_window",
    "max_output",
    "supports_attachments",
    "supports_reasoning",
    "provider_options",
    "input_price",
    "output_price",
)


def _save_models(block: ProviderBlock, provider: CompatibleProvider, is_new: bool) -> str:
    rows = [
        {name: form.cleaned_data[name] for name in _MODEL_FIELDS}
        for form in block.models.forms
        if not form.cleaned_data.get("DELETE") and form.cleaned_data.get("model_id")
    ]
    old = (
        []
        if is_new
        else [{name: getattr(m, name) for name in _MODEL_FIELDS} for m in provider.models.all()]
    )
    if rows == old:
        return ""
    # Replace the rows wholesale: model IDs may be swapped between rows in one save.
    CompatibleModel.objects.filter(provider=provider).delete()
    CompatibleModel.objects.bulk_create(
        CompatibleModel(provider=provider, position=position, **row)
        for position, row in enumerate(rows)
    )
    old_by_id = {m["model_id"]: m for m in old}
    new_ids = [r["model_id"] for r in rows]
    parts = []
    added = [i for i in new_ids if i not in old_by_id]
    removed = [i for i in old_by_id if i not in new_ids]
    changed = [
        r["model_id"] for r in rows if r["model_id"] in old_by_id and old_by_id[r["model_id"]] != r
    ]
    if added:
        parts.append("added " + ", ".join(added))
    if changed:
        parts.append("changed " + ", ".join(changed))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return "; ".join(parts) or "reordered"
