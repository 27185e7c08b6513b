"""The chat loop: a turn's steps, each one stream the adapter's events → apply them to the
step's message → persist it, until the model answers without tools, the user is needed, or
MAX_STEPS provider calls were made.

`run_turn` runs a Turn (assistant.turns started it) as an async generator of the small UI
events of assistant.turn_types, which assistant.stream turns into Server-Sent Events. Nothing
here renders HTML or knows which SDK answers.

Per chunk the loop does no database work: the answer is saved at the end of each step, plus
at most one progress save per second, and the Stop flag (Message.stop_requested, set by
whichever worker serves the Stop button) is read every half second; both go through
assistant.stream_watch, batched for all streams of the process. While the provider streams,
the request holds no database connection (they belong to the worker's threads:
config/handler.py). A step that asks for tools hands them to the turn's TurnTools
(assistant.tool_calls) and the loop goes on; a call that needs the user (approval, an answer)
ends the stream with the turn paused, and a resumed turn runs its decided calls first.

Budgets (assistant.usage): the turn was admitted with the estimate of its first request;
each further call is covered again before it is made (the turn ends with the budget's message
when it cannot be), and every call writes one ledger row, with estimated tokens when the
provider reported none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from assistant import errors, token_estimates, usage
from assistant.chat_request import build_request, continue_request
from assistant.event_pump import END, STOP, EventPump, Failed
from assistant.models import Conversation, Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers import adapter_for
from assistant.providers.base import ChatMessage, ChatRequest
from assistant.providers.events import (
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from assistant.stream_watch import stream_watch
from assistant.tool_calls import StepTools
from assistant.turn_types import (
    ReasoningChunk,
    StepEnded,
    StepStarted,
    TextChunk,
    Turn,
    TurnEvent,
    new_reply,
)
from prompts.users import User

logger = logging.getLogger(__name__)

MAX_STEPS = 10
PROGRESS_SAVE_SECONDS = 1.0
# Seconds the database may take to store a finished step, queueing included: under load
# (200 streams finishing at once on one worker) 3 s failed half the answers
# (tests/config/test_load.py).
PERSIST_TIMEOUT = 10.0


@dataclass
class _Step:
    """What one provider call of the turn produced, collected while it streams."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish: str = ""
    error: ProviderError | None = None
    failure_kind: str = ""
    stopped: bool = False
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    # The estimated input tokens of the request sent; None while no call was made.
    input_tokens: int | None = None
    received: bool = False  # the provider sent something other than an error
    recorded: bool = False  # the call's ledger row is written

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()

    @property
    def refused(self) -> bool:
        """The provider answered the call with an HTTP error before anything else, or could
        not be reached: it generated nothing, and providers bill nothing for that."""
        return (
            self.error is not None
            and not self.received
            and (self.error.status_code is not None or self.error.kind == "connection")
        )


async def _stream_step(
    turn: Turn, message: Message, request: ChatRequest, step: _Step
) -> AsyncGenerator[TurnEvent, None]:
    adapter = adapter_for(turn.current, turn.model.provider_key)
    pump = EventPump(adapter.stream(request))
    watch = stream_watch()
    watch.watch(message.pk, pump.interrupt)
    last_save = time.monotonic()
    try:
        while True:
            item = await pump.next()
            if item is STOP:
                step.stopped = True
                return
            if item is END:
                return
            if isinstance(item, Failed):
                logger.error("Provider adapter failed", exc_info=item.error)
                step.failure_kind = errors.INTERNAL
                return
            if isinstance(item, ProviderError):
                step.error = item
                return
            step.received = True
            if isinstance(item, TextDelta):
                text = item.text + pump.more_text(TextDelta)
                if text:
                    step.mark_first_token()
                    step.text.append(text)
                    yield TextChunk(message, text)
            elif isinstance(item, ReasoningDelta):
                text = item.text + pump.more_text(ReasoningDelta)
                if text:
                    step.mark_first_token()
                    step.reasoning.append(text)
                    yield ReasoningChunk(message, text)
            elif isinstance(item, ToolCall):
                step.mark_first_token()
                step.calls.append(item)
            elif isinstance(item, Usage):
                step.usage = item
            elif isinstance(item, Finish):
                step.finish = item.reason
            now = time.monotonic()
            if now - last_save >= PROGRESS_SAVE_SECONDS:
                watch.save_progress(message.pk, "".join(step.text), "".join(step.reasoning))
                last_save = now
    finally:
        watch.forget(message.pk)
        await pump.close()


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _apply_step(message: Message, step: _Step, *, turn_started: float, first_step: bool) -> None:
    """Copy what the step produced onto the message (not saved yet)."""
    message.content = "".join(step.text)
    message.reasoning = "".join(step.reasoning)
    if step.usage is not None:
        message.input_tokens = step.usage.input_tokens
        message.output_tokens = step.usage.output_tokens
        message.reasoning_tokens = step.usage.reasoning_tokens
    origin = turn_started if first_step else step.started
    if step.first_token_at is not None:
        message.time_to_first_token_ms = _ms(step.first_token_at - origin)
    message.total_time_ms = _ms(time.monotonic() - origin)
    message.finish_reason = step.finish
    if step.error is not None:
        message.status = Message.Status.ERROR
        message.error_kind = step.error.kind
        message.error_message = errors.describe(
            step.error, provider=message.provider, model=message.model
        )
    elif step.failure_kind:
        message.status = Message.Status.ERROR
        message.error_kind = step.failure_kind
        message.error_message = errors.describe_fault(step.failure_kind)
    elif step.stopped:
        message.status = Message.Status.STOPPED
        message.finish_reason = message.finish_reason or "stopped"
    elif not message.content and not step.calls and not message.reasoning:
        message.status = Message.Status.ERROR
        message.error_kind = errors.NO_RESPONSE
        message.error_message = errors.describe_fault(errors.NO_RESPONSE)
    else:
        message.status = Message.Status.COMPLETE


_SAVED_FIELDS = (
    "content", "reasoning", "status", "input_tokens", "output_tokens", "reasoning_tokens",
    "time_to_first_token_ms", "total_time_ms", "finish_reason", "error_kind", "error_message",
    "history_trimmed",
)  # fmt: skip


def _saved_fields(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in _SAVED_FIELDS}


def _outcome(message: Message) -> str:
    if message.status == Message.Status.ERROR:
        return message.error_kind or "error"
    if message.status == Message.Status.STOPPED:
        return usage.STOPPED
    if message.status == Message.Status.INTERRUPTED:
        return usage.INTERRUPTED
    return usage.OK


def _call_usage(step: _Step) -> tuple[Usage | None, bool]:
    """What the step's provider call used, and whether it is an estimate: the provider's own
    figures when it reported them, else an estimate from the characters sent and received (no
    usage streamed, stopped, dropped, failed mid-answer, our own fault), so that every call
    counts toward budgets and costs. None when the provider refused the call (step.refused)."""
    if step.usage is not None:
        return step.usage, False
    if step.refused or step.input_tokens is None:
        return None, False
    reasoning = "".join(step.reasoning)
    output = token_estimates.estimate_output("".join(step.text), reasoning, step.calls)
    return Usage(step.input_tokens, output, token_estimates.estimate_text(reasoning)), True


def _persist_sync(
    message_id: int, fields: dict[str, Any], conversation_id: int, ledger: dict[str, Any] | None
) -> None:
    try:
        with transaction.atomic():
            # Named fields only: never overwrites stop_requested set by another worker.
            Message.objects.filter(pk=message_id).update(**fields)
            Conversation.objects.filter(pk=conversation_id).update(updated_at=timezone.now())
        if ledger is not None:
            usage.record_usage(**ledger)  # the usage ledger: one row per provider call
    finally:
        close_old_connections()  # a pool thread: honour CONN_MAX_AGE like a request would


async def _persist(turn: Turn, message: Message, step: _Step) -> bool:
    """Store the step's message, bump the conversation and write the ledger row of the step's
    provider call: once (a failure after the step was saved stores the message again, not the
    call), and none when no call was made. When the database does not answer within
    PERSIST_TIMEOUT the user is told the answer could not be saved (and the stream ends)
    rather than waiting on a dead connection. Runs in a pool thread, so a hung attempt never
    blocks the request's own database work."""
    ledger = None
    if step.input_tokens is not None and not step.recorded:
        call_usage, estimated = _call_usage(step)
        ledger = {
            "user": turn.user,
            "model": turn.model,
            "usage": call_usage,
            "estimated": estimated,
            "duration_ms": _ms(time.monotonic() - step.started),
            "outcome": _outcome(message),
            "conversation": turn.conversation,
        }
        step.recorded = True
    save = sync_to_async(_persist_sync, thread_sensitive=False)
    try:
        await asyncio.wait_for(
            save(message.pk, _saved_fields(message), turn.conversation.pk, ledger),
            PERSIST_TIMEOUT,
        )
    except (DatabaseError, TimeoutError):
        logger.exception("Could not save chat message %s", message.pk)
        message.status = Message.Status.ERROR
        message.error_kind = errors.UNSAVED
        message.error_message = errors.describe_fault(errors.UNSAVED)
        return False
    return True


async def _end_interrupted(turn: Turn, message: Message, step: _Step, first_step: bool) -> None:
    """The client went away: keep what was generated, marked interrupted."""
    _apply_step(message, step, turn_started=turn.started, first_step=first_step)
    message.status = Message.Status.INTERRUPTED
    message.error_kind = message.error_message = ""
    message.finish_reason = message.finish_reason or "interrupted"
    await _persist(turn, message, step)


async def _reserve_call(
    turn: Turn, input_tokens: int, *, first_call: bool
) -> usage.Admission | None:
    """Make the turn's reservation cover the provider call about to be made; the refusal when
    the budget cannot. The admission reserved the first request's estimate; a further call,
    or a first call that grew since (a resume's, with its tools' results), checks the budget
    again under the user's lock."""
    if turn.admission.budget is None:
        return None
    needed = usage.call_tokens(turn.model, input_tokens)
    if first_call and needed <= turn.admission.reserved_tokens:
        return None
    admission = await usage.reserve_call(
        turn.admission, turn.model, estimated_input_tokens=input_tokens
    )
    if not admission.admitted:
        return admission
    turn.admission = admission
    return None


def _end_over_budget(message: Message, refusal: usage.Admission) -> None:
    """The budget ran out before the turn's next call: the call is not made, and the step's
    message says why."""
    message.status = Message.Status.ERROR
    message.error_kind = refusal.reason
    message.error_message = f"Stopped before the next step. {refusal.message}"


async def _run_tools(message: Message, run: Awaitable[StepTools]) -> tuple[StepTools, bool]:
    """Run a step's tool calls while the turn's `message` keeps its heartbeat; the outcome,
    and whether a Stop came meanwhile (the turn then ends once they ran)."""
    stop = asyncio.Event()
    watch = stream_watch()
    watch.watch(message.pk, stop.set)
    try:
        outcome = await run
    finally:
        watch.forget(message.pk)
    return outcome, stop.is_set()


async def run_turn(turn: Turn) -> AsyncGenerator[TurnEvent, None]:
    """Run the turn's steps, yielding UI events; ends with StepEnded of the last message.

    With turn.resume_from (a message paused for the user, whose decisions are now stored),
    its calls run first and the turn goes on from there."""
    message = turn.reply
    step = _Step(started=turn.started)
    first_step = True
    stored_calls: tuple[ToolCallRow, ...] = ()  # message's tool calls, as stored
    try:
        if turn.resume_from is not None:
            outcome, _ = await _run_tools(message, turn.tools.resume(turn.resume_from))
            if outcome.paused_status:
                turn.resume_from.status = outcome.paused_status
            else:
                turn.resume_from.status = Message.Status.COMPLETE
            await Message.objects.filter(pk=turn.resume_from.pk).aupdate(
                status=turn.resume_from.status
            )
            yield StepEnded(turn.resume_from, tuple(outcome.rows))
            if outcome.paused_status:
                await Message.objects.filter(pk=message.pk).adelete()
                return
            yield StepStarted(message)
        request, trimmed = await build_request(turn)
        message.history_trimmed = trimmed
        for number in range(1, MAX_STEPS + 1):
            input_tokens = token_estimates.estimate_request(request)
            refusal = await _reserve_call(turn, input_tokens, first_call=number == 1)
            if refusal is not None:
                _end_over_budget(message, refusal)
                await _persist(turn, message, step)
                break
            step.input_tokens = input_tokens
            async with aclosing(_stream_step(turn, message, request, step)) as events:
                async for event in events:
                    yield event
            _apply_step(message, step, turn_started=turn.started, first_step=first_step)
            calls = step.calls if message.status == Message.Status.COMPLETE else []
            last_step = number == MAX_STEPS
            if calls and last_step:
                message.error_kind = errors.TOO_MANY_STEPS
                message.error_message = (
                    f"The assistant stopped after {MAX_STEPS} steps. "
                    "Ask it to continue if there is more to do."
                )
            if calls:
                # The turn goes on: while its tools run the message still says "streaming"
                # (a page opened meanwhile follows the turn), and keeps its heartbeat.
                message.status = Message.Status.STREAMING
            if not await _persist(turn, message, step):
                break
            if not calls:
                break
            # Tools: run what may run; a call that needs the user pauses the turn.
            outcome, stopped = await _run_tools(
                message, turn.tools.handle(message, calls, last_step=last_step)
            )
            stored_calls = tuple(outcome.rows)
            message.status = outcome.paused_status or Message.Status.COMPLETE
            await Message.objects.filter(pk=message.pk).aupdate(status=message.status)
            if outcome.paused_status or last_step or stopped:
                break
            yield StepEnded(message, stored_calls)
            finished = message
            message, stored_calls = new_reply(turn.conversation, turn.model, turn.key), ()
            await message.asave()
            yield StepStarted(message)
            # The calls as the adapter produced them: their provider data (reasoning items,
            # thought signatures) must go back with the next request of this turn.
            assistant_message = ChatMessage(
                role="assistant",
                text=finished.content,
                reasoning=finished.reasoning,
                tool_calls=tuple(calls),
            )
            request = continue_request(request, assistant_message, outcome.results)
            step = _Step()
            first_step = False
    except (asyncio.CancelledError, GeneratorExit):
        if message.status == Message.Status.STREAMING:
            await asyncio.shield(_end_interrupted(turn, message, step, first_step))
        paused = turn.resume_from
        if paused is not None and paused.status == Message.Status.STREAMING:
            await asyncio.shield(
                Message.objects.filter(pk=paused.pk).aupdate(status=Message.Status.COMPLETE)
            )
        raise
    except Exception:
        # A fault of ours mid-turn (a bug, a database error): logged with its traceback; the
        # user sees a readable error with Retry instead of an answer stuck "generating".
        logger.exception("Chat turn failed (message %s)", message.pk)
        message.status = Message.Status.ERROR
        message.error_kind = errors.INTERNAL
        message.error_message = errors.describe_fault(errors.INTERNAL)
        await _persist(turn, message, step)
    # The admission's reservation is settled by usage.releasing around the whole stream.
    yield StepEnded(message, stored_calls)


# Stop ------------------------------------------------------------------------------------


async def request_stop(user: User, conversation_id: int, message_id: int) -> bool:
    """Set the Stop flag that the streaming worker (any process, any host) polls. False when
    the message is not this user's."""
    updated = await Message.objects.filter(
        pk=message_id,
        conversation_id=conversation_id,
        conversation__user=user,
        role=Message.Role.ASSISTANT,
    ).aupdate(stop_requested=True)
    return updated > 0
