"""What the assistant's tools never expose, whoever asks (superusers and MCP clients too).

The one place to look when asking "can the assistant see X?". Hidden models are absent from
`schema`, unknown to `items`, and cannot be reached through a relation path in a filter,
a sort or a field list. Hidden fields are dropped from results and refused in writes.

Decisions:
- Every model of `ai_settings` is hidden: AISettings and CompatibleProvider hold API keys and
  header credentials; CompatibleModel, GroupAIPolicy and SettingsAuditEntry hold no secret,
  but changes to them must go through Settings → AI, which bumps the settings version and
  writes the audit log (a tool write would bypass both).
- Every model of `assistant` is hidden: conversations are private to their owner, and a
  model must never be able to approve its own pending tool call or turn its own tools to
  Always by writing ToolCall/ToolPreference rows.
- prompts.ApiToken (token hashes), sessions (session keys), admin.LogEntry (the admin's own
  audit trail: read-only history of other users' edits, and never forgeable by a tool),
  contenttypes and auth.Permission (framework internals).
- auth.User stays usable, but its `password` field never appears.
- Any encrypted field (django-fernet-fields, which SecretField builds on) is hidden wherever
  it appears, so a secret added to some other model later is covered too.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from fernet_fields import EncryptedField

HIDDEN_APPS: frozenset[str] = frozenset({"ai_settings", "assistant", "sessions", "contenttypes"})

HIDDEN_MODELS: frozenset[str] = frozenset(
    {
        "prompts.apitoken",
        "admin.logentry",
        "auth.permission",
    }
)

HIDDEN_FIELDS: dict[str, frozenset[str]] = {
    "auth.user": frozenset({"password"}),
}


def model_key(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def is_hidden_model(model: type[models.Model]) -> bool:
    # A proxy (or child) of a hidden model is hidden too.
    return any(
        candidate._meta.app_label in HIDDEN_APPS or model_key(candidate) in HIDDEN_MODELS
        for candidate in (
            model,
            model._meta.concrete_model or model,
            *model._meta.get_parent_list(),
        )
    )


def is_hidden_field(
    model: type[models.Model], field: models.Field | models.ForeignObjectRel
) -> bool:
    if isinstance(field, EncryptedField):
        return True
    if field.name == "password" and issubclass(model, AbstractBaseUser):
        return True  # whatever AUTH_USER_MODEL is
    return field.name in HIDDEN_FIELDS.get(model_key(model), frozenset())
