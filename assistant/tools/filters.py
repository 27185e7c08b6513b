"""The filter language of the `items` tool, turned into a Django Q object.

    {"status": {"_eq": "published"}}
    {"_or": [{"name": {"_icontains": "draft"}}, {"created_at": {"_gte": "2025-01-01"}}]}
    {"collection.name": {"_eq": "Support"}}          relations follow dotted paths
    {"collection": {"name": {"_eq": "Support"}}}     the same, nested
    {"status": "published"}                         shorthand for _eq (a list: _in)

Operators: _eq _neq _lt _lte _gt _gte _in _nin _contains _icontains _null. Every field on a
path is checked against the model (hidden fields are unknown), every relation must lead to a
collection the user may read, and every value is converted with the field's own to_python,
so a wrong name or value is a clear ToolError instead of a database error.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.fields.related import ForeignObjectRel
from django.utils import timezone

from assistant.tools.arguments import ToolError, in_integer_range
from assistant.tools.collections import AnyField, find_field, related_collection, related_model
from prompts.users import User

LOOKUPS = {
    "_eq": "exact",
    "_neq": "exact",
    "_lt": "lt",
    "_lte": "lte",
    "_gt": "gt",
    "_gte": "gte",
    "_in": "in",
    "_nin": "in",
    "_contains": "contains",
    "_icontains": "icontains",
    "_null": "isnull",
}
NEGATED = frozenset({"_neq", "_nin"})
LOGICAL = ("_and", "_or")
MAX_FILTER_DEPTH = 32
TEXT_FREE_TYPES = (models.JSONField, models.BooleanField, models.BinaryField)


@dataclass(frozen=True)
class ResolvedPath:
    path: str  # as the model wrote it: "collection.name"
    lookup: str  # Django's: "collection__name"
    field: AnyField  # the last field on the path
    fields: tuple[AnyField, ...]  # every field on the path, in order
    to_many: bool  # crosses a many-to-many or reverse relation (rows may repeat)


def resolve_path(
    model: type[models.Model], path: object, user: User, *, allow_to_many: bool = True
) -> ResolvedPath:
    """`path` as the model sent it: anything, until checked here."""
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise ToolError(f"Invalid field path {path!r}; use names like 'name' or 'author.name'.")
    current = model
    parts: list[str] = []
    fields: list[AnyField] = []
    to_many = False
    segments = path.split(".")
    for index, segment in enumerate(segments):
        field = find_field(current, segment, reverse=True)
        parts.append(field.name)
        fields.append(field)
        to_many = to_many or bool(field.many_to_many or field.one_to_many)
        last = index == len(segments) - 1
        if not last:
            if not field.is_relation:
                raise ToolError(
                    f"{'.'.join(segments[: index + 1])!r} is not a relation, so "
                    f"{path!r} cannot follow it."
                )
            current = related_collection(field, user, ".".join(segments[: index + 1]))
        elif isinstance(field, ForeignObjectRel):
            related_collection(field, user, path)
    if to_many and not allow_to_many:
        raise ToolError(f"{path!r} crosses a to-many relation; that is not allowed here.")
    return ResolvedPath(path, "__".join(parts), fields[-1], tuple(fields), to_many)


def _value_field(field: AnyField) -> models.Field:
    """The field a value is compared with: a relation compares the related primary key."""
    if isinstance(field, models.ForeignKey):
        return field.target_field
    if isinstance(field, ForeignObjectRel) or field.is_relation:
        return related_model(field)._meta.pk
    return field


def _to_python(resolved: ResolvedPath, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise ToolError(f"The value for {resolved.path!r} must be a single value, not {value!r}.")
    field = _value_field(resolved.field)
    kind = field.get_internal_type()
    try:
        converted = field.to_python(value)
    except ValidationError as error:
        raise ToolError(
            f"Invalid value {value!r} for {resolved.path!r} ({kind}): {' '.join(error.messages)}"
        ) from None
    except (TypeError, ValueError, OverflowError):  # e.g. a number for a date, infinity
        raise ToolError(f"Invalid value {value!r} for {resolved.path!r} ({kind}).") from None
    if not in_integer_range(converted):
        raise ToolError(f"The value {value!r} for {resolved.path!r} is out of range.")
    if isinstance(field, models.DateTimeField) and converted and timezone.is_naive(converted):
        converted = timezone.make_aware(converted)  # a date without a zone means the site's zone
    return converted


def _as_bool(resolved: ResolvedPath, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value in (0, 1):
        return bool(value)
    raise ToolError(f"_null on {resolved.path!r} takes true or false, not {value!r}.")


def _condition(resolved: ResolvedPath, op: str, operand: Any) -> Q:
    lookup = LOOKUPS[op]
    if op == "_null":
        value: Any = _as_bool(resolved, operand)
    elif op in ("_in", "_nin"):
        if isinstance(operand, str):
            operand = [part.strip() for part in operand.split(",") if part.strip()]
        if not isinstance(operand, list):
            raise ToolError(f"{op} on {resolved.path!r} takes an array of values.")
        value = [_to_python(resolved, item) for item in operand]
    elif op in ("_contains", "_icontains"):
        if resolved.field.is_relation or isinstance(resolved.field, TEXT_FREE_TYPES):
            raise ToolError(f"{op} works on text fields; {resolved.path!r} is not one.")
        if isinstance(operand, (dict, list)) or operand is None:
            raise ToolError(f"{op} on {resolved.path!r} takes a piece of text.")
        value = str(operand)
    elif operand is None and op in ("_eq", "_neq"):
        lookup, value = "isnull", True
    else:
        value = _to_python(resolved, operand)
        if value is None:
            raise ToolError(f"{op} on {resolved.path!r} needs a value; use _null for empty ones.")
    condition = Q(**{f"{resolved.lookup}__{lookup}": value})
    return ~condition if op in NEGATED else condition


class _Builder:
    def __init__(self, model: type[models.Model], user: User) -> None:
        self.model = model
        self.user = user
        self.to_many = False

    def node(self, value: Any, prefix: str) -> Q:
        if not isinstance(value, dict):
            raise ToolError(
                f'A filter is an object such as {{"name": {{"_eq": "x"}}}}; got {value!r}.'
            )
        conditions = []
        for key, sub in value.items():
            if key in LOGICAL:
                conditions.append(self.logical(key, sub, prefix))
            elif key.startswith("_"):
                if not prefix or key not in LOOKUPS:
                    raise self.bad_operator(key, prefix)
                conditions.append(self.condition(prefix, key, sub))
            else:
                conditions.append(self.field(f"{prefix}.{key}" if prefix else key, sub))
        return functools.reduce(operator.and_, conditions, Q())

    def logical(self, key: str, items: Any, prefix: str) -> Q:
        if isinstance(items, dict):
            items = [{name: sub} for name, sub in items.items()]
        if not isinstance(items, list):
            raise ToolError(f"{key} takes an array of filters.")
        parts = [self.node(item, prefix) for item in items]
        if not parts:
            return Q()
        return functools.reduce(operator.and_ if key == "_and" else operator.or_, parts)

    def field(self, path: str, value: Any) -> Q:
        if isinstance(value, dict) and value and all(k.startswith("_") for k in value):
            parts = []
            for op, operand in value.items():
                if op in LOGICAL:
                    parts.append(self.logical(op, operand, path))
                elif op in LOOKUPS:
                    parts.append(self.condition(path, op, operand))
                else:
                    raise self.bad_operator(op, path)
            return functools.reduce(operator.and_, parts)
        if isinstance(value, dict):
            return self.node(value, path)  # nested relation: {"author": {"name": {...}}}
        return self.condition(path, "_in" if isinstance(value, list) else "_eq", value)

    def condition(self, path: str, op: str, operand: Any) -> Q:
        resolved = resolve_path(self.model, path, self.user)
        self.to_many = self.to_many or resolved.to_many
        return _condition(resolved, op, operand)

    def bad_operator(self, op: str, prefix: str) -> ToolError:
        valid = ", ".join([*LOOKUPS, *LOGICAL])
        where = (
            f" on {prefix!r}"
            if prefix
            else ' (operators go inside a field: {"name": {"_eq": "x"}})'
        )
        return ToolError(f"Unknown operator {op!r}{where}. Valid operators: {valid}.")


def _check_depth(filter_: Any) -> None:
    """Refuse filters nested deeper than any real one would be (before recursing into it)."""
    pending = [(filter_, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_FILTER_DEPTH:
            raise ToolError(f"The filter is nested more than {MAX_FILTER_DEPTH} levels deep.")
        children: Any = ()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        pending.extend((child, depth + 1) for child in children)


def build_filter(model: type[models.Model], filter_: dict[str, Any], user: User) -> tuple[Q, bool]:
    """(Q, crosses_to_many). An empty filter matches everything."""
    _check_depth(filter_)
    builder = _Builder(model, user)
    return builder.node(filter_, ""), builder.to_many


def build_order(model: type[models.Model], sort: list[Any], user: User) -> list[str]:
    order = []
    for item in sort:
        if not isinstance(item, str) or not item.strip():
            raise ToolError(
                f"Sort entries are field names such as 'name' or '-created_at', not {item!r}."
            )
        text = item.strip()
        descending = text.startswith("-")
        resolved = resolve_path(model, text.lstrip("-+"), user, allow_to_many=False)
        order.append(("-" if descending else "") + resolved.lookup)
    return order
