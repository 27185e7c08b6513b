"""Whole numbers read from a request (an id in the query string or a form, a row count, an
option's index, a form's number field): one parser for every view and form of the three apps.

`str.isdigit()` and `int()` accept more than a browser's digits: "³" passes isdigit() and
then int() raises; "٣" and "１" become 3 and 1; "+1", " 1" and "1_0" are numbers to int().
Here only ASCII digits count, with no sign or space, and at most `maximum`.
"""  # noqa: RUF002 (the full-width digit is the example)

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404

# The largest id a BigAutoField holds (a signed 64-bit integer, on every database).
MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))


def whole_number(raw: str | None, *, maximum: int = MAX_ID) -> int | None:
    """`raw` as a number from 0 to `maximum` when it is ASCII digits only; else None."""
    if not raw or len(raw) > _MAX_DIGITS or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= maximum else None


def object_id(raw: str | None) -> int:
    """The id of an object a request names: a 404 when `raw` cannot be one."""
    value = whole_number(raw)
    if value is None:
        raise Http404("No such object.")
    return value


class WholeNumberField(forms.IntegerField):
    """Django's IntegerField, reading the value as whole_number() does: "٣", "-1", "1.0" or
    " 1" is not a whole number here (IntegerField makes them 3, -1, 1 and 1)."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # an initial value, not typed
        number = whole_number(str(value))
        if number is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return number
