"""Model rows as JSON for a model, and the caps that keep a result small (50 rows, 20 KB).

Dates and datetimes become ISO 8601 strings, decimals and UUIDs strings, files their name,
binary data a size; relations are primary keys (a list for to-many relations).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.fields.related import ForeignObjectRel

from assistant.tools.collections import accessor_name

MAX_ROWS = 50
MAX_BYTES = 20_000
SHORT_TEXT = 500  # how long a text value stays when even one row is over MAX_BYTES


def dumps(payload: Any) -> str:
    return json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False)


def size(payload: Any) -> int:
    return len(dumps(payload).encode())


def field_value(obj: models.Model, field: models.Field | ForeignObjectRel) -> Any:
    if isinstance(field, ForeignObjectRel):
        accessor = accessor_name(field)
        if field.one_to_one:
            related = getattr(obj, accessor, None)  # None when no related row exists
            return related.pk if related is not None else None
        return [related.pk for related in getattr(obj, accessor).all()]
    if field.many_to_many:
        return [related.pk for related in getattr(obj, field.name).all()]
    value = field.value_from_object(obj)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    return value


def _add_note(payload: dict[str, Any], note: str) -> None:
    payload["note"] = f"{payload['note']} {note}" if payload.get("note") else note


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SHORT_TEXT:
        return value[:SHORT_TEXT] + f"… [{len(value) - SHORT_TEXT} more characters]"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value


def capped(payload: dict[str, Any], key: str = "items") -> str:
    """JSON of payload, with payload[key] cut so the text stays under MAX_BYTES. A note
    says what was cut and how to get the rest."""
    if size(payload) <= MAX_BYTES:
        return dumps(payload)
    items = list(payload[key])
    low, high = 0, len(items)  # the largest prefix that fits lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if size({**payload, key: items[:middle]}) <= MAX_BYTES:
            low = middle
        else:
            high = middle - 1
    result = dict(payload)
    if low:
        result[key] = items[:low]
        _add_note(
            result,
            f"Cut to the first {low} of {len(items)} items to stay under 20 KB; "
            "ask for fewer fields or page with offset.",
        )
    else:
        result = {name: _shorten(value) for name, value in payload.items()}
        result[key] = [_shorten(item) for item in items[:1]]
        _add_note(
            result,
            f"Long text values shortened to {SHORT_TEXT} characters to stay under 20 KB"
            + (f"; showing 1 of {len(items)} items" if len(items) > 1 else "")
            + ". Ask for fewer fields or one item by key.",
        )
        if size(result) > MAX_BYTES:
            result[key] = []
            _add_note(result, "Even one item is too large to show; ask for fewer fields.")
    return dumps(result)
