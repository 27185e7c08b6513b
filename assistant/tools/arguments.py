"""Reading a model's tool arguments forgivingly, and the errors tools hand back to it.

Models often send an object or an array as a JSON string ("{\\"status\\": …}"), or the whole
arguments object as one string; both are accepted. Anything that is still wrong becomes a
ToolError, which the tool returns as ToolResult(is_error=True) with a message written for
the model (what was wrong and what would be valid).
"""

from __future__ import annotations

import json
from typing import Any

from assistant.tools.base import ToolResult

MAX_DB_INTEGER = 2**63 - 1  # the widest integer column (bigint) holds no more


class ToolError(Exception):
    """A call the tool refuses. `kind` is "invalid" or "permission_denied"."""

    kind = "invalid"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def result(self) -> ToolResult:
        payload = {"error": self.message, "kind": self.kind, **self.extra}
        return ToolResult(json.dumps(payload, ensure_ascii=False, default=str), is_error=True)


class PermissionDeniedError(ToolError):
    kind = "permission_denied"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(f"Permission denied: {message}", **extra)


def from_json_text(value: Any) -> Any:
    """An object or array sent as JSON text, parsed; anything else as it is."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") or text in ("null", "true", "false"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise ToolError(
                    f"Could not parse JSON: {error.msg} at position {error.pos}."
                ) from None
            except RecursionError:
                raise ToolError("The JSON is nested too deeply.") from None
    refuse_nul(value)
    return value


def refuse_nul(value: Any) -> None:
    """Text with a NUL character (which PostgreSQL cannot store or compare) is refused,
    wherever it sits in the arguments."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ToolError("Text cannot contain NUL characters (\\u0000).")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)


def in_integer_range(value: Any) -> bool:
    """Whether a database integer column (bigint at most) can hold `value`; non-integers
    pass (their own checks apply)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return True
    return -MAX_DB_INTEGER - 1 <= value <= MAX_DB_INTEGER


def parse_arguments(raw: Any) -> dict[str, Any]:
    """The arguments object, whether it came as a dict or as a JSON string."""
    if raw is None or raw == "":
        return {}
    value = from_json_text(raw)
    if not isinstance(value, dict):
        raise ToolError("The arguments must be a JSON object.")
    return value


def optional_object(arguments: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = from_json_text(arguments.get(name))
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise ToolError(f"`{name}` must be an object.")
    return value


def optional_list(
    arguments: dict[str, Any], name: str, *, comma_separated: bool = False
) -> list[Any] | None:
    """A list argument; a scalar becomes a one-item list, and (for names) "a, b" becomes
    ["a", "b"]."""
    value = from_json_text(arguments.get(name))
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        raise ToolError(f"`{name}` must be an array, not an object.")
    if comma_separated and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def optional_int(arguments: dict[str, Any], name: str, *, minimum: int = 0) -> int | None:
    value = arguments.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ToolError(f"`{name}` must be a whole number.")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ToolError(f"`{name}` must be a whole number, not {value!r}.") from None
    if number < minimum:
        raise ToolError(f"`{name}` must be at least {minimum}.")
    if not in_integer_range(number):
        raise ToolError(f"`{name}` is too large.")
    return number


def optional_str(arguments: dict[str, Any], name: str) -> str | None:
    value = arguments.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ToolError(f"`{name}` must be a string.")
    return value.strip()
