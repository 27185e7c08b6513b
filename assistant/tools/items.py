"""The `items` tool: read, create, update and delete items of one collection, as the user."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.db.models.fields.related import ForeignObjectRel

from assistant.tools import writes
from assistant.tools.arguments import (
    PermissionDeniedError,
    ToolError,
    from_json_text,
    optional_int,
    optional_list,
    optional_object,
    optional_str,
    parse_arguments,
)
from assistant.tools.base import CallPreview, ToolContext, ToolResult
from assistant.tools.collections import (
    AnyField,
    Collection,
    accessor_name,
    find_collection,
    require,
    visible_fields,
)
from assistant.tools.filters import build_filter, build_order, resolve_path
from assistant.tools.serialize import MAX_ROWS, capped, field_value

ACTIONS = ("read", "create", "update", "delete")
TAKES = {
    "read": ("fields", "filter", "sort", "limit", "offset", "keys"),
    "create": ("data",),
    "update": ("keys", "filter", "data"),
    "delete": ("keys",),
}
SHOWN_KEYS = 20  # keys listed in an approval summary before "…"

DESCRIPTION = """\
Read, create, update or delete items of one collection (a Django model), with the user's \
own permissions. Call `schema` first for collection keys and field names.
- read: optional `fields` (names; a dotted path reads a related value, e.g. \
"collection.name"), `filter`, `sort` (e.g. ["-created_at", "name"]), `limit` (1-50, \
default 50), `offset`, `keys`. Returns `total` matching and at most 50 items / 20 KB.
- create: `data` = an object, or an array of objects.
- update: `keys` and/or `filter` pick the items; `data` = an object of changes applied to \
each. Or `data` = an array of objects that each include the primary key.
- delete: `keys` only.
Filter: {"field": {"_op": value}} with _eq _neq _lt _lte _gt _gte _in _nin _contains \
_icontains _null (true/false). Combine with {"_and": [..]} or {"_or": [..]}. Follow \
relations with dotted paths: {"collection.name": {"_icontains": "support"}}. Relations \
are read and written as primary keys (arrays for to-many). Dates are ISO 8601 strings."""

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "collection": {
            "type": "string",
            "description": 'Collection key from `schema`, e.g. "auth.group".',
        },
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "read: fields to return (default: all); the key is always included.",
        },
        "filter": {
            "type": "object",
            "description": 'read/update: e.g. {"status": {"_eq": "published"}}.',
        },
        "sort": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'read: field names, "-" prefix for descending.',
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS},
        "offset": {"type": "integer", "minimum": 0},
        "keys": {
            "type": "array",
            "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "description": "Primary keys of the items to read, update or delete.",
        },
        "data": {
            "anyOf": [
                {"type": "object"},
                {"type": "array", "items": {"type": "object"}},
            ],
            "description": "create/update: field values.",
        },
    },
    "required": ["action", "collection"],
}


def _blank(value: Any) -> bool:
    return value is None or value in ("", [], {})


@dataclass(frozen=True)
class _Call:
    action: str
    collection: Collection
    arguments: dict[str, Any]
    context: ToolContext

    @property
    def model(self) -> type[models.Model]:
        return self.collection.model

    @property
    def user(self) -> Any:
        return self.context.user


def _parse(raw: Any, context: ToolContext) -> _Call:
    arguments = parse_arguments(raw)
    action = (optional_str(arguments, "action") or "").lower()
    if action not in ACTIONS:
        raise ToolError(
            f"`action` must be one of {', '.join(ACTIONS)}; got {arguments.get('action')!r}."
        )
    collection = find_collection(arguments.get("collection"), context.user)
    known = {"action", "collection", *TAKES[action]}
    extra = sorted(
        name for name, value in arguments.items() if name not in known and not _blank(value)
    )
    if extra:
        raise ToolError(
            f"{action} does not take {', '.join(map(repr, extra))}; it takes "
            f"{', '.join(TAKES[action])}."
        )
    if action == "delete" and context.via_mcp and not context.current.mcp_allow_deletes:
        raise PermissionDeniedError(
            "deleting through MCP is turned off (Settings → AI → Allow deletes via MCP)."
        )
    require(context.user, action, collection)
    return _Call(action, collection, arguments, context)


# --- selecting items ------------------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    queryset: QuerySet
    keys: list[Any] | None
    filter: dict[str, Any] | None


def _select(call: _Call) -> _Selection:
    queryset = call.model._default_manager.all()
    keys = optional_list(call.arguments, "keys", comma_separated=True)
    if keys is not None:
        keys = writes.convert_keys(call.model, keys)
        queryset = queryset.filter(pk__in=keys)
    filter_ = optional_object(call.arguments, "filter")
    if filter_ is not None:
        condition, to_many = build_filter(call.model, filter_, call.user)
        queryset = queryset.filter(condition)
        if to_many:
            queryset = queryset.distinct()
    return _Selection(queryset, keys, filter_)


def _not_found(keys: list[Any] | None, objects: list[models.Model]) -> list[Any]:
    found = {obj.pk for obj in objects}
    return [key for key in keys or [] if key not in found]


# --- read -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    name: str  # as the model asked for it
    chain: tuple[AnyField, ...]


def _columns(call: _Call) -> list[_Column]:
    model = call.model
    pk = model._meta.pk
    names = optional_list(call.arguments, "fields", comma_separated=True)
    if names is None or names == ["*"]:
        return [_Column(f.name, (f,)) for f in visible_fields(model)]
    columns = [] if pk.name in names or "pk" in names else [_Column(pk.name, (pk,))]
    for name in names:
        if name == "*":
            columns.extend(_Column(f.name, (f,)) for f in visible_fields(model) if f is not pk)
            continue
        resolved = resolve_path(model, name, call.user)
        if any(f.many_to_many or f.one_to_many for f in resolved.fields[:-1]):
            raise ToolError(
                f"{name!r} goes through a to-many relation; "
                "read that collection with a filter instead."
            )
        columns.append(_Column(name, resolved.fields))
    return columns


def _related_object(obj: models.Model, field: AnyField) -> models.Model | None:
    related: models.Model | None
    if isinstance(field, ForeignObjectRel):  # reverse one-to-one
        related = getattr(obj, accessor_name(field), None)
    else:
        related = getattr(obj, field.name)
    return related


def _value(obj: models.Model, chain: tuple[AnyField, ...]) -> Any:
    current = obj
    for field in chain[:-1]:
        related = _related_object(current, field)
        if related is None:
            return None
        current = related
    return field_value(current, chain[-1])


def _row(obj: models.Model, columns: list[_Column]) -> dict[str, Any]:
    return {column.name: _value(obj, column.chain) for column in columns}


def _with_relations(queryset: QuerySet, columns: list[_Column]) -> QuerySet:
    for column in columns:
        *through, last = column.chain
        if through:
            queryset = queryset.select_related("__".join(f.name for f in through))
        if not through and (last.many_to_many or last.one_to_many):
            accessor = accessor_name(last) if isinstance(last, ForeignObjectRel) else last.name
            queryset = queryset.prefetch_related(accessor)
    return queryset


def _read(call: _Call) -> str:
    selection = _select(call)
    queryset = selection.queryset
    sort = optional_list(call.arguments, "sort", comma_separated=True)
    if sort:
        queryset = queryset.order_by(*build_order(call.model, sort, call.user), "pk")
    elif not queryset.ordered:
        queryset = queryset.order_by("pk")
    notes = []
    limit = optional_int(call.arguments, "limit", minimum=1) or MAX_ROWS
    if limit > MAX_ROWS:
        notes.append(f"limit is at most {MAX_ROWS}; showing {MAX_ROWS}.")
        limit = MAX_ROWS
    offset = optional_int(call.arguments, "offset") or 0
    columns = _columns(call)
    total = queryset.count()
    objects = list(_with_relations(queryset, columns)[offset : offset + limit])
    items = [_row(obj, columns) for obj in objects]
    if total > offset + len(items):
        notes.append(
            f"{total - offset - len(items)} more matching items; "
            f"use offset={offset + len(items)} for the next page."
        )
    payload: dict[str, Any] = {
        "collection": call.collection.key,
        "total": total,
        "offset": offset,
        "count": len(items),
        "items": items,
    }
    if (
        selection.keys is not None
        and (missing := _not_found(selection.keys, objects))
        and not selection.filter
    ):
        payload["not_found"] = missing
    if notes:
        payload["note"] = " ".join(notes)
    return capped(payload)


# --- writes ---------------------------------------------------------------------------


def _data(call: _Call) -> Any:
    value = from_json_text(call.arguments.get("data"))
    if _blank(value):
        raise ToolError(f"{call.action} needs `data`: the field values to set.")
    return value


def _create_items(call: _Call) -> list[dict[str, Any]]:
    data = _data(call)
    items = data if isinstance(data, list) else [data]
    if len(items) > writes.MAX_WRITE_ITEMS:
        raise ToolError(f"At most {writes.MAX_WRITE_ITEMS} items per call; split the data.")
    for index, values in enumerate(items):
        where = "`data`" if not isinstance(data, list) else f"data[{index}]"
        writes.check_field_names(call.collection, values, where, creating=True)
    return items


@dataclass(frozen=True)
class _UpdatePlan:
    objects: list[models.Model]
    changes: list[dict[str, Any]]
    not_found: list[Any]
    selection: _Selection | None = None  # set when keys/filter pick the items
    shared: dict[str, Any] | None = None  # then: the one change applied to each


def _pk_of(values: dict[str, Any], pk_name: str) -> Any:
    return values.get(pk_name, values.get("pk"))


def _plan_update(call: _Call) -> _UpdatePlan:
    data = _data(call)
    pk_name = call.model._meta.pk.name
    if (
        isinstance(data, list)
        and len(data) == 1
        and isinstance(data[0], dict)
        and _pk_of(data[0], pk_name) is None
    ):
        data = data[0]
    if isinstance(data, list):
        # One change per item, each naming its primary key.
        if not all(
            isinstance(values, dict) and _pk_of(values, pk_name) is not None for values in data
        ):
            raise ToolError(
                f"When `data` is an array, every object must include the primary key {pk_name!r}; "
                "otherwise give one object and pick the items with `keys` or `filter`."
            )
        if not _blank(call.arguments.get("keys")) or not _blank(call.arguments.get("filter")):
            raise ToolError(
                "Give per-item `data` with primary keys, or `keys`/`filter` with one object, "
                "not both."
            )
        by_key: dict[Any, dict[str, Any]] = {}
        for values in data:
            key = writes.convert_keys(call.model, [_pk_of(values, pk_name)])[0]
            changes = {k: v for k, v in values.items() if k not in (pk_name, "pk")}
            writes.check_field_names(
                call.collection, changes, f"the object for key {key}", creating=False
            )
            by_key[key] = changes
        if len(by_key) > writes.MAX_WRITE_ITEMS:
            raise ToolError(f"At most {writes.MAX_WRITE_ITEMS} items per call; split the data.")
        objects = list(call.model._default_manager.filter(pk__in=list(by_key)))
        found = {obj.pk: obj for obj in objects}
        ordered = [found[key] for key in by_key if key in found]
        return _UpdatePlan(
            ordered,
            [by_key[obj.pk] for obj in ordered],
            [key for key in by_key if key not in found],
        )
    writes.check_field_names(call.collection, data, "`data`", creating=False)
    if _blank(call.arguments.get("keys")) and _blank(call.arguments.get("filter")):
        raise ToolError(
            "update needs `keys` or a `filter` to pick the items; it never changes a whole "
            "collection implicitly."
        )
    selection = _select(call)
    count = selection.queryset.count()
    if count > writes.MAX_WRITE_ITEMS:
        raise ToolError(
            f"This would update {count} items; at most {writes.MAX_WRITE_ITEMS} per call. "
            "Narrow the filter."
        )
    objects = list(selection.queryset)
    return _UpdatePlan(
        objects, [data] * len(objects), _not_found(selection.keys, objects), selection, data
    )


def _plan_delete(call: _Call) -> tuple[writes.DeletePlan, list[Any]]:
    keys = optional_list(call.arguments, "keys", comma_separated=True)
    if not keys:
        raise ToolError("delete needs `keys` (primary keys); read the items first to find them.")
    keys = writes.convert_keys(call.model, keys)
    objects = list(call.model._default_manager.filter(pk__in=keys))
    if not objects:
        raise ToolError(
            f"No items in {call.collection.key} with keys {', '.join(map(str, keys))}; "
            "nothing was deleted."
        )
    return writes.plan_delete(call.collection, objects, call.user), _not_found(keys, objects)


def _rows(call: _Call, objects: list[models.Model]) -> list[dict[str, Any]]:
    columns = [_Column(f.name, (f,)) for f in visible_fields(call.model)]
    return [_row(obj, columns) for obj in objects]


def _create(call: _Call) -> str:
    created = writes.create(call.collection, _create_items(call))
    return capped(
        {
            "collection": call.collection.key,
            "created": len(created),
            "keys": [obj.pk for obj in created],
            "items": _rows(call, created),
        }
    )


def _update(call: _Call) -> str:
    plan = _plan_update(call)
    updated = writes.update(call.collection, plan.objects, plan.changes)
    payload: dict[str, Any] = {
        "collection": call.collection.key,
        "updated": len(updated),
        "keys": [obj.pk for obj in updated],
        "items": _rows(call, updated),
    }
    if plan.not_found:
        payload["not_found"] = plan.not_found
    return capped(payload)


def _delete(call: _Call) -> str:
    plan, not_found = _plan_delete(call)
    keys = [obj.pk for obj in plan.objects]
    writes.delete(call.collection, plan)
    payload: dict[str, Any] = {
        "collection": call.collection.key,
        "deleted": len(keys),
        "keys": keys,
        "items": [],
    }
    if plan.also:
        payload["also_deleted"] = plan.also
    if not_found:
        payload["not_found"] = not_found
    return capped(payload)


# --- approval card ----------------------------------------------------------------------


def _keys_text(keys: list[Any]) -> str:
    shown = ", ".join(str(key) for key in keys[:SHOWN_KEYS])
    return shown + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")


def _values_text(values: dict[str, Any]) -> str:
    text = ", ".join(
        f"{name} = {json.dumps(value, ensure_ascii=False, default=str)}"
        for name, value in values.items()
    )
    return text if len(text) <= 300 else text[:299] + "…"


def _plural(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _preview(call: _Call) -> CallPreview:
    label = call.collection.label
    details: dict[str, Any] = {
        "action": call.action,
        "collection": call.collection.key,
        "collection_name": call.collection.name,
    }
    if call.action == "read":
        selection = _select(call)
        total = selection.queryset.count()
        details.update(keys=selection.keys, filter=selection.filter)
        return CallPreview(f"Read {_plural(total)} from {label}", total, details)
    if call.action == "create":
        items = _create_items(call)
        details["data"] = items
        summary = f"Create {_plural(len(items))} in {label}"
        if len(items) == 1:
            summary += f": {_values_text(items[0])}"
        return CallPreview(summary, len(items), details)
    if call.action == "update":
        plan = _plan_update(call)
        keys = [obj.pk for obj in plan.objects]
        per_item = dict(zip(map(str, keys), plan.changes, strict=True))
        details.update(keys=keys, data=plan.shared if plan.shared is not None else per_item)
        summary = f"Update {_plural(len(keys))} in {label}"
        if plan.selection and plan.selection.filter is not None:
            details["filter"] = plan.selection.filter
            summary += (
                f" matching {json.dumps(plan.selection.filter, ensure_ascii=False, default=str)}"
            )
        if keys:
            summary += f" (keys {_keys_text(keys)})"
        if plan.shared is not None:
            summary += f": set {_values_text(plan.shared)}"
        if plan.not_found:
            details["not_found"] = plan.not_found
        if not keys:
            message = "No items match, so nothing would change."
            return CallPreview(summary, 0, details, error=message)
        return CallPreview(summary, len(keys), details)
    deletion, not_found = _plan_delete(call)
    keys = [obj.pk for obj in deletion.objects]
    details.update(keys=keys, also_deletes=deletion.also, not_found=not_found)
    summary = f"Delete {_plural(len(keys))} from {label} (keys {_keys_text(keys)})"
    if deletion.also:
        summary += ". Also deletes " + ", ".join(
            f"{count} {name}" for name, count in deletion.also.items()
        )
    return CallPreview(summary, len(keys), details)


class ItemsTool:
    name = "items"
    label = "Items"
    description = DESCRIPTION
    parameters = PARAMETERS
    read_only = False
    interactive = False

    def reads_only(self, arguments: dict[str, Any] | str) -> bool:
        try:
            action = parse_arguments(arguments).get("action")
        except ToolError:
            return False
        return isinstance(action, str) and action.strip().lower() == "read"

    def run(self, arguments: dict[str, Any] | str, context: ToolContext) -> ToolResult:
        try:
            call = _parse(arguments, context)
            handler = {"read": _read, "create": _create, "update": _update, "delete": _delete}
            return ToolResult(handler[call.action](call))
        except ToolError as error:
            return error.result()

    def preview(self, arguments: dict[str, Any] | str, context: ToolContext) -> CallPreview:
        try:
            return _preview(_parse(arguments, context))
        except ToolError as error:
            return CallPreview(
                f"This call cannot run: {error.message}",
                0,
                {"kind": error.kind},
                error=error.message,
            )
