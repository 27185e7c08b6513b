"""The `schema` tool: which collections the user may read, and their fields and relations."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.fields.related import ForeignObjectRel

from assistant.tools.arguments import ToolError, optional_list, parse_arguments
from assistant.tools.base import CallPreview, ToolContext, ToolResult
from assistant.tools.collections import (
    Collection,
    allowed_actions,
    find_collection,
    is_collection,
    readable_collections,
    require,
    reverse_relations,
    visible_fields,
)
from assistant.tools.serialize import capped
from prompts.users import User

DESCRIPTION = """\
Discover the site's data. Without arguments: the collections (Django models) the user may \
read, with their key, name, number of fields and the actions the user may take. With \
`keys` (collection keys): each collection's fields (name, type, required, choices, help, \
max length) and relations. Use it before `items`."""

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "keys": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'Collection keys to describe in full, e.g. ["auth.group"].',
        }
    },
}

TYPE_NAMES = {
    "AutoField": "integer",
    "BigAutoField": "integer",
    "SmallAutoField": "integer",
    "IntegerField": "integer",
    "BigIntegerField": "integer",
    "SmallIntegerField": "integer",
    "PositiveIntegerField": "integer",
    "PositiveBigIntegerField": "integer",
    "PositiveSmallIntegerField": "integer",
    "FloatField": "float",
    "DecimalField": "decimal",
    "BooleanField": "boolean",
    "CharField": "string",
    "SlugField": "slug",
    "EmailField": "email",
    "URLField": "url",
    "TextField": "text",
    "DateField": "date",
    "DateTimeField": "datetime",
    "TimeField": "time",
    "DurationField": "duration",
    "UUIDField": "uuid",
    "JSONField": "json",
    "GenericIPAddressField": "ip address",
    "FileField": "file",
    "ImageField": "file",
    "BinaryField": "binary",
}
RELATION_KINDS = {
    "many_to_one": "many-to-one",
    "one_to_one": "one-to-one",
    "many_to_many": "many-to-many",
    "one_to_many": "one-to-many",
}


def _kind(field: models.Field | ForeignObjectRel) -> str:
    for attribute, kind in RELATION_KINDS.items():
        if getattr(field, attribute):
            return kind
    return ""


def _target(field: models.Field | ForeignObjectRel) -> str | None:
    model = field.related_model
    return Collection(model).key if is_collection(model) else None


def _describe_field(field: models.Field) -> dict[str, Any]:
    if field.is_relation:
        target = _target(field)
        type_name = _kind(field) + (f" → {target}" if target else "")
    else:
        type_name = TYPE_NAMES.get(field.get_internal_type(), field.get_internal_type())
    info: dict[str, Any] = {"name": field.name, "type": type_name}
    auto = isinstance(field, models.AutoField)
    info["required"] = bool(
        field.editable and not auto and not field.blank and not field.has_default()
    )
    if field.primary_key:
        info["primary_key"] = True
    if auto or not field.editable:
        info["read_only"] = True
    if field.null:
        info["nullable"] = True
    if field.choices:
        info["choices"] = [value for value, _ in field.flatchoices]
    if field.help_text:
        info["help"] = str(field.help_text)
    if getattr(field, "max_length", None) and not field.is_relation:
        info["max_length"] = field.max_length
    if isinstance(field, models.DecimalField):
        info["max_digits"], info["decimal_places"] = field.max_digits, field.decimal_places
    return info


def _relations(model: type[models.Model]) -> list[dict[str, Any]]:
    forward = [
        {"field": field.name, "kind": _kind(field), "collection": _target(field)}
        for field in visible_fields(model)
        if field.is_relation
    ]
    reverse = [
        {
            "field": rel.name,
            "kind": _kind(rel),
            "collection": Collection(rel.related_model).key,
            "via": rel.remote_field.name,
        }
        for rel in reverse_relations(model)
    ]
    return forward + reverse


def describe(collection: Collection, user: User) -> dict[str, Any]:
    model = collection.model
    return {
        "collection": collection.key,
        "name": collection.name,
        "primary_key": model._meta.pk.name,
        "actions": allowed_actions(user, model),
        "fields": [_describe_field(field) for field in visible_fields(model)],
        "relations": _relations(model),
    }


def _summary(collection: Collection, user: User) -> dict[str, Any]:
    return {
        "collection": collection.key,
        "name": collection.name,
        "fields": len(visible_fields(collection.model)),
        "actions": allowed_actions(user, collection.model),
    }


class SchemaTool:
    name = "schema"
    label = "Schema"
    description = DESCRIPTION
    parameters = PARAMETERS
    read_only = True
    interactive = False

    def reads_only(self, arguments: dict[str, Any] | str) -> bool:
        return True

    def run(self, arguments: dict[str, Any] | str, context: ToolContext) -> ToolResult:
        try:
            keys = optional_list(parse_arguments(arguments), "keys", comma_separated=True)
            if not keys:
                collections = readable_collections(context.user)
                payload: dict[str, Any] = {
                    "collections": [_summary(c, context.user) for c in collections]
                }
                if not collections:
                    payload["note"] = "The user may not read any collection."
                return ToolResult(capped(payload, key="collections"))
            described: list[dict[str, Any]] = []
            errors: list[ToolError] = []
            for key in keys:
                try:
                    collection = find_collection(key, context.user)
                    require(context.user, "read", collection)
                    described.append(describe(collection, context.user))
                except ToolError as error:
                    errors.append(error)
            if not described:
                raise (
                    errors[0]
                    if len(errors) == 1
                    else ToolError(" ".join(e.message for e in errors))
                )
            result: dict[str, Any] = {"collections": described}
            if errors:
                result["errors"] = [error.message for error in errors]
            return ToolResult(capped(result, key="collections"))
        except ToolError as error:
            return error.result()

    def preview(self, arguments: dict[str, Any] | str, context: ToolContext) -> CallPreview:
        return CallPreview("Read the data model (collections and fields)")
