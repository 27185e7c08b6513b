"""Prompt templates: `{{ name }}` and `{{ name: description }}` placeholders.

A prompt's variables are the placeholders found in its system prompt and messages, in order of
first appearance. Rendering replaces every placeholder with its value in one pass, so a value
that itself contains `{{ … }}` is inserted as is, never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

OPEN = "{{"
CLOSE = "}}"
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*"
NAME_HINT = "a variable name uses letters, digits, _ or - and starts with a letter or _"
_BODY = re.compile(rf"\s*(?P<name>{NAME_PATTERN})\s*(?::(?P<description>.*))?", re.DOTALL)


@dataclass(frozen=True)
class Variable:
    name: str
    description: str = ""


@dataclass(frozen=True)
class RenderedPrompt:
    system_prompt: str
    messages: tuple[tuple[str, str], ...]  # (role, text) in order


@dataclass(frozen=True)
class Position:
    offset: int  # 0-based character offset
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, text: str, offset: int) -> Position:
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return cls(offset, line, column)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


class PlaceholderSyntaxError(ValueError):
    """A malformed placeholder; `position` points at its opening `{{`."""

    def __init__(self, problem: str, position: Position, hint: str = "") -> None:
        self.problem = problem
        self.position = position
        super().__init__(f"{problem} at {position}" + (f": {hint}." if hint else "."))


class MissingVariableError(ValueError):
    """Rendering was asked for without a value for one or more variables."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        quoted = ", ".join(f"“{name}”" for name in names)
        noun = "variable" if len(names) == 1 else "variables"
        super().__init__(f"Missing value for {noun} {quoted}.")


@dataclass(frozen=True)
class _Placeholder:
    start: int
    end: int  # just past the closing braces
    name: str
    description: str


def _scan(text: str) -> Iterator[_Placeholder | PlaceholderSyntaxError]:
    offset = 0
    while (start := text.find(OPEN, offset)) != -1:
        close = text.find(CLOSE, start + len(OPEN))
        next_open = text.find(OPEN, start + len(OPEN))
        if close == -1 or (next_open != -1 and next_open < close):
            yield PlaceholderSyntaxError("Unclosed “{{”", Position.of(text, start))
            if close == -1:
                return
            offset = next_open
            continue
        body = text[start + len(OPEN) : close]
        match = _BODY.fullmatch(body)
        end = close + len(CLOSE)
        if match is None:
            problem = (
                f"Invalid placeholder “{OPEN}{body}{CLOSE}”"
                if body.strip()
                else "Empty placeholder “{{ }}”"
            )
            yield PlaceholderSyntaxError(problem, Position.of(text, start), NAME_HINT)
        else:
            yield _Placeholder(start, end, match["name"], (match["description"] or "").strip())
        offset = end


def syntax_errors(text: str) -> list[PlaceholderSyntaxError]:
    """Every malformed placeholder in `text`, in order; empty when the text is valid."""
    return [item for item in _scan(text) if isinstance(item, PlaceholderSyntaxError)]


def check_syntax(text: str) -> None:
    """Raise the first PlaceholderSyntaxError in `text`, if any."""
    for error in syntax_errors(text):
        raise error


def _placeholders(text: str) -> list[_Placeholder]:
    found: list[_Placeholder] = []
    for item in _scan(text):
        if isinstance(item, PlaceholderSyntaxError):
            raise item
        found.append(item)
    return found


def variables_in(texts: Iterable[str]) -> list[Variable]:
    """The variables of several texts, in order of first appearance. A variable's description
    is the first one given for it anywhere."""
    order: list[str] = []
    descriptions: dict[str, str] = {}
    for text in texts:
        for placeholder in _placeholders(text):
            if placeholder.name not in descriptions:
                order.append(placeholder.name)
                descriptions[placeholder.name] = ""
            if placeholder.description and not descriptions[placeholder.name]:
                descriptions[placeholder.name] = placeholder.description
    return [Variable(name, descriptions[name]) for name in order]


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with every placeholder replaced by its value (all values must be present)."""
    parts: list[str] = []
    offset = 0
    for placeholder in _placeholders(text):
        parts.append(text[offset : placeholder.start])
        parts.append(values[placeholder.name])
        offset = placeholder.end
    parts.append(text[offset:])
    return "".join(parts)


def _parts(prompt: Any) -> tuple[str, list[tuple[str, str]]]:
    """(system prompt, [(role, text)]) of a Prompt; its messages should be prefetched in
    async code."""
    return prompt.system_prompt or "", [(m.role, m.text) for m in prompt.messages.all()]


def variables(prompt: Any) -> list[Variable]:
    system_prompt, messages = _parts(prompt)
    return variables_in([system_prompt, *(text for _, text in messages)])


def missing_variables(prompt: Any, values: Mapping[str, Any]) -> list[str]:
    """Names of the prompt's variables without a value (absent, None or blank)."""
    return [v.name for v in variables(prompt) if not str(values.get(v.name) or "").strip()]


def render(prompt: Any, values: Mapping[str, Any]) -> RenderedPrompt:
    """Fill every placeholder; raises MissingVariableError naming each variable without a
    value and PlaceholderSyntaxError for malformed text (the admin refuses to save that)."""
    missing = missing_variables(prompt, values)
    if missing:
        raise MissingVariableError(missing)
    strings = {name: str(value) for name, value in values.items() if value is not None}
    system_prompt, messages = _parts(prompt)
    return RenderedPrompt(
        system_prompt=fill(system_prompt, strings),
        messages=tuple((role, fill(text, strings)) for role, text in messages),
    )


def sample_values(prompt: Any) -> dict[str, str]:
    """Stand-in values for a preview: each variable as `<name>`."""
    return {v.name: f"<{v.name}>" for v in variables(prompt)}
