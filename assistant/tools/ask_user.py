"""The `ask_user` tool: the model asks the user questions, and the turn waits for the answer.

It never runs on the server. The chat loop sees `interactive = True`, checks the call with
`parse_questions` (an invalid call goes straight back to the model as an error result),
renders a form for the questions and pauses the turn. When the user submits the form,
`read_answers` checks it and `answers_result` becomes the call's result; `dismissed_result`
is the result when the user closes the questions without answering.

Form field names: `q<index>` for the chosen options (values are option indexes, "0"-"3";
one for single choice, several for multiple choice) and `q<index>-text` for free text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.tools.arguments import ToolError, from_json_text, parse_arguments
from assistant.tools.base import CallPreview, ToolContext, ToolResult
from prompts.request_numbers import whole_number

MAX_QUESTIONS = 4
MAX_OPTIONS = 4
MAX_TEXT = 300  # a question or an option label
MAX_ANSWER_TEXT = 2_000

DESCRIPTION = """\
Ask the user one or more questions (at most 4) when you need a decision or a missing \
detail; the turn continues with their answers. Each question offers up to 4 options \
(single choice, or several with `multiple`), and `free_text` adds a box for their own \
words. A question without options is answered in free text. Do not ask what you can find \
out with the other tools."""

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_QUESTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "options": {
                        "type": "array",
                        "maxItems": MAX_OPTIONS,
                        "items": {"type": "string"},
                        "description": "Up to 4 short choices.",
                    },
                    "multiple": {
                        "type": "boolean",
                        "description": "The user may pick several options.",
                    },
                    "free_text": {
                        "type": "boolean",
                        "description": "Also let the user answer in their own words.",
                    },
                },
                "required": ["question"],
            },
        }
    },
    "required": ["questions"],
}


@dataclass(frozen=True)
class Option:
    label: str
    description: str = ""


@dataclass(frozen=True)
class Question:
    index: int
    text: str
    options: tuple[Option, ...] = ()
    multiple: bool = False
    free_text: bool = False

    @property
    def field_name(self) -> str:
        return f"q{self.index}"

    @property
    def text_field_name(self) -> str:
        return f"q{self.index}-text"

    @property
    def input_type(self) -> str:
        return "checkbox" if self.multiple else "radio"


@dataclass(frozen=True)
class Answer:
    question: str
    selected: tuple[str, ...] = ()
    text: str = ""


def _short_text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{what} must be non-empty text.")
    if len(value) > MAX_TEXT:
        raise ToolError(f"{what} is longer than {MAX_TEXT} characters; keep it short.")
    return value.strip()


def _option(value: Any, where: str) -> Option:
    if isinstance(value, dict):
        return Option(
            _short_text(value.get("label"), f"{where} label"),
            str(value.get("description") or "").strip()[:MAX_TEXT],
        )
    return Option(_short_text(value, where))


def _flag(raw: dict[str, Any], name: str, where: str) -> bool:
    value = raw.get(name, False)
    if value in (None, ""):
        return False
    if not isinstance(value, bool):
        raise ToolError(f"{where}.{name} must be true or false.")
    return value


def parse_questions(arguments: dict[str, Any] | str) -> tuple[Question, ...]:
    """The questions of an ask_user call; raises ToolError (its .result() is the error result
    to hand back to the model) when the call is malformed."""
    questions = from_json_text(parse_arguments(arguments).get("questions"))
    if isinstance(questions, dict):
        questions = [questions]
    if not isinstance(questions, list) or not questions:
        raise ToolError(
            "`questions` must be a non-empty array, e.g. "
            '[{"question": "…", "options": ["A", "B"]}].'
        )
    if len(questions) > MAX_QUESTIONS:
        raise ToolError(
            f"Ask at most {MAX_QUESTIONS} questions at a time; you asked {len(questions)}."
        )
    parsed = []
    for index, given in enumerate(questions):
        where = f"questions[{index}]"
        raw = {"question": given} if isinstance(given, str) else given
        if not isinstance(raw, dict):
            raise ToolError(f"{where} must be an object with a `question`.")
        options = from_json_text(raw.get("options")) or []
        if not isinstance(options, list):
            raise ToolError(f"{where}.options must be an array of short texts.")
        if len(options) > MAX_OPTIONS:
            raise ToolError(
                f"{where} has {len(options)} options; at most {MAX_OPTIONS} per question."
            )
        parsed_options = tuple(_option(o, f"{where}.options[{i}]") for i, o in enumerate(options))
        labels = [o.label for o in parsed_options]
        if len(set(labels)) != len(labels):
            raise ToolError(f"{where} repeats an option.")
        parsed.append(
            Question(
                index=index,
                text=_short_text(raw.get("question"), f"{where}.question"),
                options=parsed_options,
                multiple=_flag(raw, "multiple", where) and bool(parsed_options),
                # A question without options can only be answered in words.
                free_text=_flag(raw, "free_text", where) or not parsed_options,
            )
        )
    return tuple(parsed)


def _getlist(form: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(form, "getlist"):
        return [str(v) for v in form.getlist(name)]
    value = form.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def read_answers(
    questions: tuple[Question, ...], form: Mapping[str, Any]
) -> tuple[list[Answer], dict[int, str]]:
    """(answers, errors by question index) from a submitted form (a QueryDict or a dict).
    Every question needs a chosen option or some text; errors are for the form to show."""
    answers: list[Answer] = []
    errors: dict[int, str] = {}
    for question in questions:
        chosen: list[str] = []
        for value in _getlist(form, question.field_name):
            option = whole_number(value, maximum=len(question.options) - 1)
            if option is None:
                errors[question.index] = "Choose one of the options shown."
                break
            label = question.options[option].label
            if label not in chosen:
                chosen.append(label)
        if len(chosen) > 1 and not question.multiple:
            errors[question.index] = "Choose only one option."
        text = (form.get(question.text_field_name) or "").strip() if question.free_text else ""
        if len(text) > MAX_ANSWER_TEXT:
            errors[question.index] = f"Keep the answer under {MAX_ANSWER_TEXT} characters."
        if not chosen and not text and question.index not in errors:
            errors[question.index] = (
                "Choose an option or write an answer."
                if question.free_text and question.options
                else "Write an answer."
                if question.free_text
                else "Choose an option."
            )
        answers.append(Answer(question.text, tuple(chosen), text))
    return answers, errors


def answers_result(answers: list[Answer]) -> ToolResult:
    payload = {
        "answers": [
            {
                "question": a.question,
                **({"selected": list(a.selected)} if a.selected else {}),
                **({"text": a.text} if a.text else {}),
            }
            for a in answers
        ]
    }
    return ToolResult(json.dumps(payload, ensure_ascii=False))


def dismissed_result() -> ToolResult:
    return ToolResult(
        json.dumps({"answers": None, "note": "The user closed the questions without answering."})
    )


class AskUserTool:
    name = "ask_user"
    label = "Ask user"
    description = DESCRIPTION
    parameters = PARAMETERS
    read_only = True
    interactive = True

    def reads_only(self, arguments: dict[str, Any] | str) -> bool:
        return True

    def run(self, arguments: dict[str, Any] | str, context: ToolContext) -> ToolResult:
        """Only reached outside the chat (nobody to answer): invalid calls get their error,
        valid ones are told that no one can answer here."""
        try:
            parse_questions(arguments)
        except ToolError as error:
            return error.result()
        return ToolError(
            "ask_user needs a person in the chat to answer; none is available here."
        ).result()

    def preview(self, arguments: dict[str, Any] | str, context: ToolContext) -> CallPreview:
        try:
            questions = parse_questions(arguments)
        except ToolError as error:
            return CallPreview(f"This call cannot run: {error.message}", 0, error=error.message)
        count = len(questions)
        return CallPreview(
            f"Ask you {count} question{'s' if count != 1 else ''}",
            count,
            {"questions": [q.text for q in questions]},
        )
