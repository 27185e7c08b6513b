"""Tool calls in a chat turn, in one place: the protocol the chat loop uses (TurnTools, and
NO_TOOLS for a turn without any), its implementation over the tool registry
(RegistryTurnTools), the user's decisions (approve, deny, answer, dismiss) and what the chat
shows for a call that waits on the user (the approval card and the ask_user form's context).

The loop asks a TurnTools for the specs to send, and hands it every step's tool calls. One
step's calls are stored as ToolCall rows and then, per call:
- unknown or Disabled tool, or the turn's last allowed step: not run, an error result;
- `ask_user`: checked; a valid call waits for the user's answer (status pending);
- a call that needs approval (see preferences.needs_approval) waits for Approve/Deny,
  unless its preview already shows it cannot run (then it runs and returns that error);
- anything else runs now: read-only calls of a step concurrently, then the others in order.

Everything a later request needs lives in the database (rows with status and result), so a
paused turn survives a reload and any worker can resume it. The user's decisions are stored
with `approve`, `deny`, `answer` and `dismiss` (each an atomic compare-and-set on a pending
row, so a double click or two workers never decide or run a call twice); `resume` then runs
the approved calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.utils import timezone

from ai_settings.current import CurrentSettings
from assistant.models import Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers.base import ChatMessage, ToolSpec
from assistant.providers.events import ToolCall
from assistant.tools import get_tool, tool_specs, unavailable_result
from assistant.tools.arguments import ToolError
from assistant.tools.ask_user import (
    Question,
    answers_result,
    dismissed_result,
    parse_questions,
    read_answers,
)
from assistant.tools.base import CallPreview, ToolContext, ToolResult
from assistant.tools.preferences import Mode, enabled_tools, modes_for, needs_approval
from prompts.users import User

# The protocol the chat loop uses ----------------------------------------------------------


@dataclass(frozen=True)
class StepTools:
    """What became of one step's tool calls."""

    rows: list[ToolCallRow]  # stored calls, in order, for the cards
    # The assistant message carrying the calls and one tool message per finished call, to
    # append to the next request of this turn.
    assistant_message: ChatMessage
    results: list[ChatMessage] = field(default_factory=list)
    # Message.Status.AWAITING_APPROVAL / AWAITING_ANSWER when the turn must wait for the user.
    paused_status: str = ""


class TurnTools(Protocol):
    async def specs(self) -> Sequence[ToolSpec]:
        """The tools to send: the user's enabled tools (Disabled ones are left out)."""
        ...

    async def handle(
        self, message: Message, calls: Sequence[ToolCall], *, last_step: bool
    ) -> StepTools:
        """Store and run (or pause on) one step's calls. On the last allowed step nothing is
        run: every call is stored as not run, with a result saying why."""
        ...

    async def resume(self, message: Message) -> StepTools:
        """Run the calls of a paused message whose decisions (approve / deny / answer) are
        stored on its rows, and return the outcome (paused_status set if some still wait)."""
        ...


class _NoTools:
    async def specs(self) -> Sequence[ToolSpec]:
        return ()

    async def handle(
        self, message: Message, calls: Sequence[ToolCall], *, last_step: bool
    ) -> StepTools:
        # A model may invent a call although no tools were sent: tell it so and go on.
        return StepTools(
            rows=[],
            assistant_message=ChatMessage(
                role="assistant", text=message.content, tool_calls=tuple(calls)
            ),
            results=[
                ChatMessage(
                    role="tool",
                    text=json.dumps({"error": f"There is no tool named “{call.name}”."}),
                    tool_call_id=call.id,
                    tool_name=call.name,
                    is_error=True,
                )
                for call in calls
            ],
        )

    async def resume(self, message: Message) -> StepTools:
        raise RuntimeError("Nothing to resume: no tools are available.")


NO_TOOLS: TurnTools = _NoTools()


# Its implementation over the tool registry --------------------------------------------------

Status = ToolCallRow.Status

LAST_STEP_RESULT = (
    "Not run: this turn reached its step limit. Tell the user what is left to do; "
    "they can ask you to continue."
)
DENIED_RESULT = "The user denied this call. Do not retry it; ask the user how to go on."


def _finish(row: ToolCallRow, result: ToolResult) -> None:
    row.result, row.is_error = result.content, result.is_error
    row.status = Status.FAILED if result.is_error else Status.DONE
    row.finished_at = timezone.now()
    row.save(update_fields=["result", "is_error", "status", "finished_at"])


@dataclass
class _Planned:
    row: ToolCallRow
    action: str  # "read", "write" (run now), "wait" (approval), "ask" (answer), "done"


class RegistryTurnTools:
    """The tools of one user's turn. Build it per turn: RegistryTurnTools(user, current)."""

    def __init__(self, user: User, current: CurrentSettings) -> None:
        self.user = user
        self.current = current
        self._specs: Sequence[ToolSpec] | None = None

    def load_specs(self) -> Sequence[ToolSpec]:
        """Look up the user's enabled tools now (sync), so `specs` needs no database trip."""
        self._specs = tool_specs(enabled_tools(self.user))
        return self._specs

    @property
    def context(self) -> ToolContext:
        return ToolContext(user=self.user, current=self.current)

    # -- the TurnTools protocol ---------------------------------------------------------

    async def specs(self) -> Sequence[ToolSpec]:
        if self._specs is None:
            self._specs = tool_specs(await sync_to_async(enabled_tools)(self.user))
        return self._specs

    async def handle(
        self, message: Message, calls: Sequence[ToolCall], *, last_step: bool
    ) -> StepTools:
        planned = await sync_to_async(self._store)(message, calls, last_step)
        reads = [p.row for p in planned if p.action == "read"]
        # Other connections cannot share an open transaction (the caller's, or a test's);
        # then the reads run one after another on this one.
        in_transaction = await sync_to_async(lambda: connection.in_atomic_block)()
        if len(reads) > 1 and not in_transaction:
            await asyncio.gather(
                *(sync_to_async(self._run_in_pool, thread_sensitive=False)(row) for row in reads)
            )
        else:
            for row in reads:
                await sync_to_async(self._run)(row)
        for p in planned:
            if p.action == "write":
                await sync_to_async(self._run)(p.row)
        return self._outcome(message, [p.row for p in planned])

    async def resume(self, message: Message) -> StepTools:
        rows = await sync_to_async(self._resume)(message)
        return self._outcome(message, rows)

    # -- storing and running -------------------------------------------------------------

    def _store(
        self, message: Message, calls: Sequence[ToolCall], last_step: bool
    ) -> list[_Planned]:
        modes = modes_for(self.user)
        planned = []
        for call in calls:
            # Tools accept an object or its JSON text, should an adapter pass the text on
            # (whatever its type says, an adapter's value is checked here).
            given: object = call.arguments
            arguments = given if isinstance(given, (dict, str)) else {}
            row = ToolCallRow.objects.create(
                message=message,
                call_id=call.id,
                name=call.name,
                arguments=arguments,
                provider_data=call.provider_data,
            )
            planned.append(_Planned(row, self._plan(row, modes, last_step)))
        return planned

    def _plan(self, row: ToolCallRow, modes: dict[str, str], last_step: bool) -> str:
        tool = get_tool(row.name)
        if last_step:
            _finish(row, ToolError(LAST_STEP_RESULT).result())
            return "done"
        if tool is None or modes.get(row.name) == Mode.DISABLED:
            _finish(row, unavailable_result(row.name))
            return "done"
        if tool.interactive:
            try:
                parse_questions(row.arguments)
            except ToolError as error:
                _finish(row, error.result())
                return "done"
            return "ask"
        if needs_approval(tool, row.arguments, modes[row.name]):
            if tool.preview(row.arguments, self.context).error:
                return "write"  # cannot run: running returns the error, nothing to approve
            return "wait"
        return "read" if tool.reads_only(row.arguments) else "write"

    def _run(self, row: ToolCallRow) -> None:
        tool = get_tool(row.name)
        result = tool.run(row.arguments, self.context) if tool else unavailable_result(row.name)
        _finish(row, result)

    def _run_in_pool(self, row: ToolCallRow) -> None:
        """A concurrent read in a pool thread: that thread's connection is closed after."""
        try:
            self._run(row)
        finally:
            connections.close_all()

    def _resume(self, message: Message) -> list[ToolCallRow]:
        for row in message.tool_calls.filter(status=Status.APPROVED):
            # Claim it: only one worker runs an approved call.
            claimed = ToolCallRow.objects.filter(pk=row.pk, status=Status.APPROVED).update(
                status=Status.DONE
            )
            if claimed:
                self._run(row)
        return list(message.tool_calls.order_by("created_at", "id"))

    def _outcome(self, message: Message, rows: list[ToolCallRow]) -> StepTools:
        pending = [row for row in rows if row.status in (Status.PENDING, Status.APPROVED)]
        paused = ""
        if any(not _is_question(row) for row in pending):
            paused = Message.Status.AWAITING_APPROVAL
        elif pending:
            paused = Message.Status.AWAITING_ANSWER
        finished = [row for row in rows if row not in pending]
        return StepTools(
            rows=rows,
            assistant_message=ChatMessage(
                role="assistant",
                text=message.content,
                reasoning=message.reasoning,
                tool_calls=tuple(ToolCall(row.call_id, row.name, row.arguments) for row in rows),
            ),
            results=[
                ChatMessage(
                    role="tool",
                    text=row.result,
                    tool_call_id=row.call_id,
                    tool_name=row.name,
                    is_error=row.is_error,
                )
                for row in finished
            ],
            paused_status=paused,
        )


def _is_question(row: ToolCallRow) -> bool:
    tool = get_tool(row.name)
    return bool(tool and tool.interactive)


def takes_decision(row: ToolCallRow, decision: str) -> bool:
    """Questions (ask_user) are answered or dismissed; other calls are approved or denied."""
    if _is_question(row):
        return decision in ("answer", "dismiss")
    return decision in ("approve", "deny")


# The user's decisions, and the approval card's preview ---------------------------------------


def approval_card(row: ToolCallRow, user: User, current: CurrentSettings) -> CallPreview:
    """The approval card's content for a pending call, computed now (so a reload shows the
    current count of items the call would touch)."""
    tool = get_tool(row.name)
    if tool is None:
        return CallPreview(f"Unknown tool {row.name!r}", 0, error="Unknown tool.")
    return tool.preview(row.arguments, ToolContext(user=user, current=current))


def questions_for(row: ToolCallRow) -> tuple[Question, ...]:
    """The questions of a pending ask_user call, for its answer form."""
    return parse_questions(row.arguments)


def _decide(row: ToolCallRow, user: User, **changes: Any) -> bool:
    """Compare-and-set on a pending row; False when it was decided already (or elsewhere)."""
    updated = ToolCallRow.objects.filter(pk=row.pk, status=Status.PENDING).update(
        decided_by=user, **changes
    )
    if updated:
        for name, value in changes.items():
            setattr(row, name, value)
        row.decided_by = user
    return bool(updated)


def approve(row: ToolCallRow, user: User) -> bool:
    """Mark a pending call approved; `resume` runs it. False if no longer pending."""
    return _decide(row, user, status=Status.APPROVED)


def deny(row: ToolCallRow, user: User) -> bool:
    """The call is not run; the model is told the user denied it."""
    return _decide(
        row,
        user,
        status=Status.DENIED,
        result=json.dumps({"error": DENIED_RESULT, "kind": "denied_by_user"}),
        is_error=True,
        finished_at=timezone.now(),
    )


def answer(row: ToolCallRow, user: User, form: Mapping[str, Any]) -> dict[int, str]:
    """Store the user's answers to an ask_user call. Returns form errors by question index
    (nothing stored then); an empty dict means stored (or decided already)."""
    answers, errors = read_answers(questions_for(row), form)
    if errors:
        return errors
    result = answers_result(answers)
    _decide(row, user, status=Status.DONE, result=result.content, finished_at=timezone.now())
    return {}


def dismiss(row: ToolCallRow, user: User) -> bool:
    """The user closed the questions without answering; the model is told so."""
    result = dismissed_result()
    return _decide(row, user, status=Status.DONE, result=result.content, finished_at=timezone.now())


# What the chat shows for a call waiting on the user -------------------------------------------


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str) if value else ""


def approval_context(
    row: ToolCallRow, user: User, current: CurrentSettings, *, approve_url: str, deny_url: str
) -> dict[str, Any]:
    card = approval_card(row, user, current)
    return {
        "call": row,
        "card": card,
        "filter_json": _pretty(card.details.get("filter")),
        "data_json": _pretty(card.details.get("data")),
        "arguments_json": _pretty(row.arguments),
        "approve_url": approve_url,
        "deny_url": deny_url,
    }


@dataclass(frozen=True)
class QuestionRow:
    question: Question
    error: str = ""
    chosen: tuple[str, ...] = ()  # option indexes as posted, to keep them checked
    text: str = ""


def _values(form: Mapping[str, Any], name: str) -> tuple[str, ...]:
    if hasattr(form, "getlist"):
        return tuple(form.getlist(name))
    value = form.get(name)
    if value is None:
        return ()
    return tuple(map(str, value)) if isinstance(value, (list, tuple)) else (str(value),)


def question_context(
    row: ToolCallRow,
    *,
    answer_url: str,
    dismiss_url: str,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The answer form for a pending ask_user call; after a refused submit, pass the posted
    form and the errors from `answer` to show them."""
    form, errors = form or {}, errors or {}
    rows = [
        QuestionRow(
            question,
            errors.get(question.index, ""),
            _values(form, question.field_name),
            str(form.get(question.text_field_name) or ""),
        )
        for question in parse_questions(row.arguments)
    ]
    return {"call": row, "rows": rows, "answer_url": answer_url, "dismiss_url": dismiss_url}
