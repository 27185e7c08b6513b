"""Collections: the models registered in Django admin, minus the deny list, and what a user
may do with each.

A collection's key is "<app_label>.<model_name>" ("prompts.prompt", "auth.user"). Reading
needs Django's view or change permission (as in the admin, change implies view); create,
update and delete need add, change and delete. Superusers have all of them; the deny list
holds for them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, overload

from django.contrib import admin
from django.db import models
from django.db.models.fields.related import ForeignObjectRel

from assistant.tools import deny
from assistant.tools.arguments import PermissionDeniedError, ToolError
from prompts.users import User

# Tool action → Django permission codename prefix.
PERMISSION_FOR = {"read": "view", "create": "add", "update": "change", "delete": "delete"}

AnyField = models.Field | ForeignObjectRel


@dataclass(frozen=True)
class Collection:
    model: type[models.Model]

    @property
    def key(self) -> str:
        return deny.model_key(self.model)

    @property
    def name(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()

    @property
    def label(self) -> str:
        """For people: "Prompts (prompts.prompt)"."""
        return f"{self.name} ({self.key})"


def is_collection(model: type[models.Model] | None) -> TypeGuard[type[models.Model]]:
    return model is not None and admin.site.is_registered(model) and not deny.is_hidden_model(model)


def all_collections() -> list[Collection]:
    # admin.site has no public "list registered models"; _registry is what admin itself uses.
    models_ = [model for model in admin.site._registry if is_collection(model)]
    return sorted((Collection(model) for model in models_), key=lambda c: c.key)


def may(user: User, action: str, model: type[models.Model]) -> bool:
    opts = model._meta
    if action == "read":
        return any(
            user.has_perm(f"{opts.app_label}.{prefix}_{opts.model_name}")
            for prefix in ("view", "change")
        )
    return user.has_perm(f"{opts.app_label}.{PERMISSION_FOR[action]}_{opts.model_name}")


def allowed_actions(user: User, model: type[models.Model]) -> list[str]:
    return [action for action in PERMISSION_FOR if may(user, action, model)]


def readable_collections(user: User) -> list[Collection]:
    return [c for c in all_collections() if may(user, "read", c.model)]


def find_collection(name: Any, user: User) -> Collection:
    """The collection a model named, by key ("prompts.prompt", any case) or by a model name
    that is unique among collections ("prompt"). Hidden and unknown names both fail."""
    if not isinstance(name, str) or not name.strip():
        raise ToolError(
            "`collection` is required, e.g. "
            + _example_keys(user)
            + ". Call `schema` to list collections."
        )
    wanted = name.strip().lower()
    collections = all_collections()
    matches = [c for c in collections if c.key == wanted]
    if not matches and "." not in wanted:
        matches = [c for c in collections if c.model._meta.model_name == wanted]
    if len(matches) == 1:
        return matches[0]
    readable = ", ".join(c.key for c in readable_collections(user)) or "none"
    raise ToolError(
        f"Unknown collection {name!r}. Collections you can read: {readable}.",
    )


def _example_keys(user: User) -> str:
    keys = [c.key for c in readable_collections(user)[:2]]
    return " or ".join(repr(k) for k in keys) if keys else "'app_label.model_name'"


def require(user: User, action: str, collection: Collection) -> None:
    if not may(user, action, collection.model):
        raise PermissionDeniedError(
            f"you may not {action} items in {collection.label}.",
            collection=collection.key,
            action=action,
        )


def visible_fields(model: type[models.Model]) -> list[models.Field]:
    """Forward fields (columns and many-to-many), in declaration order, minus hidden ones."""
    opts = model._meta
    fields = [*opts.concrete_fields, *opts.many_to_many]
    return [f for f in fields if not deny.is_hidden_field(model, f)]


def reverse_relations(model: type[models.Model]) -> list[ForeignObjectRel]:
    """Relations from other collections pointing here, e.g. a collection's prompts."""
    return [
        rel
        for rel in model._meta.get_fields()
        if isinstance(rel, ForeignObjectRel)
        and not rel.hidden
        and is_collection(rel.related_model)
        and not deny.is_hidden_field(rel.related_model, rel.remote_field)
    ]


def related_model(field: AnyField) -> type[models.Model]:
    """The model a relation leads to: a class once the apps are loaded (Django resolves
    "self" and "app_label.Model" references by then)."""
    model = field.related_model
    assert isinstance(model, type), f"{field!r} is not a relation"
    return model


def accessor_name(rel: ForeignObjectRel) -> str:
    """The attribute a reverse relation is read through, e.g. `prompts` or `user_set`."""
    name = rel.get_accessor_name()
    assert name is not None, f"{rel!r} is hidden"  # reverse_relations() leaves those out
    return name


def field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in visible_fields(model)]


@overload
def find_field(
    model: type[models.Model], name: str, *, reverse: Literal[False] = False
) -> models.Field: ...
@overload
def find_field(model: type[models.Model], name: str, *, reverse: bool) -> AnyField: ...
def find_field(model: type[models.Model], name: str, *, reverse: bool = False) -> AnyField:
    """A visible field by name ("collection" or its column "collection_id"; "pk" is the primary
    key). With reverse=True, relations from other collections are accepted too."""
    if name == "pk":
        return model._meta.pk
    for field in visible_fields(model):
        if name in (field.name, getattr(field, "attname", None)):
            return field
    if reverse:
        for rel in reverse_relations(model):
            if rel.name == name:
                return rel
    valid = field_names(model)
    if reverse:
        valid += [rel.name for rel in reverse_relations(model)]
    raise ToolError(
        f"Unknown field {name!r} in {deny.model_key(model)}. Valid fields: {', '.join(valid)}.",
        valid_fields=valid,
    )


def related_collection(field: AnyField, user: User, path: str) -> type[models.Model]:
    """The model a relation leads to, if the user may follow it there."""
    target = field.related_model
    if not is_collection(target):
        raise ToolError(f"{path!r} leads to a model that is not available to the assistant.")
    if not may(user, "read", target):
        raise PermissionDeniedError(
            f"you may not read items in {Collection(target).label} (used by {path!r})."
        )
    return target
