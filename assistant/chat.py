"""The chat loop: one turn is build the request → stream the adapter's events → persist.

A turn starts with `begin_turn` (the user's message and an empty assistant message are
stored, so the page can show both at once) and runs in `run_turn`, an async generator of
small UI events that `assistant.stream` turns into Server-Sent Events. Nothing here renders
HTML or knows which SDK answers.

Per chunk the loop does no database work: the answer is saved at the end of each step, plus
at most one progress save per second, and the Stop flag (Message.stop_requested, set by
whichever worker serves the Stop button) is read every half second; both go through
assistant.stream_watch, batched for all streams of the process. While the provider streams,
the request holds no database connection (they belong to the worker's threads:
config/handler.py). A step that asks for tools runs them and the loop
goes on, at most MAX_STEPS provider calls per turn; a call that needs the user (approval, an
answer) ends the stream with the turn paused, and `begin_resume` continues it in a new
stream once the user decided.

Budgets (assistant.usage): a turn is admitted with the estimate of its first request before
it is stored, each further call is covered again before it is made (the turn ends with the
budget's message when it cannot be), and every call writes one ledger row, with estimated
tokens when the provider reported none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from ai_settings.catalog import AvailableModel
from ai_settings.current import CurrentSettings
from assistant import errors, history, usage
from assistant.attachments import CheckedFile
from assistant.heartbeat import interrupt_abandoned
from assistant.models import Attachment, Conversation, Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers import adapter_for
from assistant.providers.base import AttachmentData, ChatMessage, ChatRequest, ToolSpec
from assistant.providers.events import (
    Event,
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from assistant.stream_watch import stream_watch
from assistant.system_prompt import build_system_prompt
from assistant.tool_calls import NO_TOOLS, TurnTools

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 100_000
MAX_STEPS = 10
PROGRESS_SAVE_SECONDS = 1.0
# Seconds the database may take to store a finished step, queueing included: under load
# (200 streams finishing at once on one worker) 3 s failed half the answers (tests/test_load.py).
PERSIST_TIMEOUT = 10.0
TITLE_LENGTH = 60


# What the loop tells the page ---------------------------------------------------------------


@dataclass(frozen=True)
class TextChunk:
    message: Message
    text: str


@dataclass(frozen=True)
class ReasoningChunk:
    message: Message
    text: str


@dataclass(frozen=True)
class StepStarted:
    """A new assistant message (the next step of a turn that used tools)."""

    message: Message


@dataclass(frozen=True)
class StepEnded:
    """The message is final for this stream: complete, stopped, interrupted, failed, or
    paused for the user (awaiting approval / an answer)."""

    message: Message


TurnEvent = TextChunk | ReasoningChunk | StepStarted | StepEnded


# A turn ----------------------------------------------------------------------------------


@dataclass
class Turn:
    user: Any
    current: CurrentSettings
    conversation: Conversation
    model: AvailableModel
    question: Message
    reply: Message
    admission: usage.Admission
    tools: TurnTools = NO_TOOLS
    started: float = field(default_factory=time.monotonic)
    resume_from: Message | None = None
    # Retry: the failed answer's messages, removed from the page when the new one starts.
    replaced_ids: list[int] = field(default_factory=list)
    # Shown when the stream starts, before the answer: a chosen prompt's messages and the
    # question.
    added: list[Message] = field(default_factory=list)
    # The first request's history and system prompt, when loaded with the turn's messages.
    preloaded_history: tuple[list[ChatMessage], str] | None = None


def _title_from(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"


def _new_reply(conversation: Conversation, model: AvailableModel) -> Message:
    return Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        provider=model.provider_label,
        model=model.model_id,
    )


WAITING = (Message.Status.AWAITING_APPROVAL, Message.Status.AWAITING_ANSWER)
NOT_DECIDED_RESULT = json.dumps(
    {
        "error": "The user sent a new message instead of answering this call; it was not run.",
        "kind": "not_decided",
    }
)


def _close_waiting_calls(conversation: Conversation) -> None:
    """The user wrote a new message instead of approving or answering: the waiting calls
    are closed as not run (the model is told), so the history stays complete."""
    waiting = conversation.messages.filter(status__in=WAITING)
    ToolCallRow.objects.filter(message__in=waiting, status=ToolCallRow.Status.PENDING).update(
        status=ToolCallRow.Status.DENIED,
        result=NOT_DECIDED_RESULT,
        is_error=True,
        finished_at=timezone.now(),
    )
    waiting.update(status=Message.Status.COMPLETE)


def _begin_turn_sync(
    *,
    user: Any,
    conversation: Conversation | None,
    model: AvailableModel,
    text: str,
    files: Sequence[CheckedFile],
    page_context: dict[str, Any] | None,
    extra_instructions: str,
    prompt_messages: Sequence[tuple[str, str]],
) -> tuple[Conversation, list[Message], Message]:
    with transaction.atomic():
        if conversation is None:
            first_text = text or next((t for role, t in prompt_messages if role == "user"), "")
            conversation = Conversation.objects.create(
                user=user, title=_title_from(first_text), model_key=model.key
            )
        else:
            conversation.model_key = model.key
            if not conversation.title:
                conversation.title = _title_from(text)
            conversation.save(update_fields=["model_key", "title", "updated_at"])
            # Answers left streaming by a worker that died, or waiting for a decision the
            # user skipped by writing again: rare, so one read says whether to close any.
            leftover = set(
                conversation.messages.filter(
                    status__in=(Message.Status.STREAMING, *WAITING)
                ).values_list("status", flat=True)
            )
            if Message.Status.STREAMING in leftover:
                interrupt_abandoned(conversation.pk)  # its partial text joins the history
            if leftover.intersection(WAITING):
                _close_waiting_calls(conversation)
        # A chosen prompt's messages come first, as they would in an MCP client.
        added = [
            Message(
                conversation=conversation,
                role=Message.Role.ASSISTANT if role == "assistant" else Message.Role.USER,
                content=prompt_text,
            )
            for role, prompt_text in prompt_messages
        ]
        question = Message(
            conversation=conversation,
            role=Message.Role.USER,
            content=text,
            page_context=page_context,
            extra_instructions=extra_instructions,
        )
        added.append(question)
        reply = _new_reply(conversation, model)
        Message.objects.bulk_create([*added, reply])  # one INSERT, in this order
        for shown in added:
            shown.attachment_list, shown.tool_call_list = [], []
        question.attachment_list = [
            Attachment.objects.create(
                message=question,
                filename=f.filename,
                content_type=f.content_type,
                size=len(f.data),
                data=f.data,
            )
            for f in files
        ]
    return conversation, added, reply


def _admit(
    user: Any,
    current: CurrentSettings,
    model: AvailableModel,
    loaded: tuple[list[ChatMessage], str],
    tool_specs: Sequence[ToolSpec],
) -> usage.Admission:
    """Admit the turn (rate limit, budget), reserving the estimate of its first request: the
    history trimmed as it will be sent, the system prompt and the tool specs, plus the model's
    max output. Called inside the transaction that stored the turn's messages, after loading
    them: usage.Refused rolls that transaction back, so a refused message leaves nothing."""
    messages, system_prompt = loaded
    trimmed = history.trim(messages, model=model, system_prompt=system_prompt, tools=tool_specs)
    admission = usage.admit_sync(
        user, current, model, estimated_input_tokens=trimmed.estimated_tokens
    )
    if not admission.admitted:
        raise usage.Refused(admission)
    return admission


def start_turn(
    *,
    user: Any,
    current: CurrentSettings,
    conversation: Conversation | None,
    model: AvailableModel,
    text: str,
    files: Sequence[CheckedFile] = (),
    page_context: dict[str, Any] | None = None,
    extra_instructions: str = "",
    prompt_messages: Sequence[tuple[str, str]] = (),
    tools: TurnTools = NO_TOOLS,
    tool_specs: Sequence[ToolSpec] = (),
    started: float | None = None,
) -> Turn:
    """Store the user's message (with its files) and an empty assistant message (a new
    conversation is created when none is given), load the history the first provider request
    needs and admit the turn with that request's estimate; raises usage.Refused with nothing
    stored. `tool_specs`: the specs `tools` will send. Synchronous: the send view runs it in
    its one trip to the database."""
    with transaction.atomic():
        conversation, added, reply = _begin_turn_sync(
            user=user,
            conversation=conversation,
            model=model,
            text=text,
            files=files,
            page_context=page_context,
            extra_instructions=extra_instructions,
            prompt_messages=prompt_messages,
        )
        loaded = _history_sync(
            user=user,
            current=current,
            conversation_id=conversation.pk,
            before=added[0].pk,
            new=added,
        )
        admission = _admit(user, current, model, loaded, tool_specs)
    reply.attachment_list, reply.tool_call_list = [], []
    return Turn(
        user=user,
        current=current,
        conversation=conversation,
        model=model,
        question=added[-1],
        reply=reply,
        admission=admission,
        tools=tools,
        started=started if started is not None else time.monotonic(),
        added=added,
        preloaded_history=loaded,
    )


def retry_turn(
    *,
    user: Any,
    current: CurrentSettings,
    conversation: Conversation,
    failed: Message,
    model: AvailableModel,
    tools: TurnTools = NO_TOOLS,
    tool_specs: Sequence[ToolSpec] = (),
) -> Turn:
    """Answer the question of a failed (or stopped, or interrupted) last turn again: the old
    answer is replaced by a new one. Admitted like a new message, with the estimate of the
    request it will send; raises usage.Refused with nothing changed."""
    with transaction.atomic():
        # A write first: on SQLite a transaction that reads first may not write later.
        conversation.model_key = model.key
        conversation.save(update_fields=["model_key", "updated_at"])
        question = (
            conversation.messages.filter(role=Message.Role.USER, pk__lt=failed.pk)
            .order_by("-created_at", "-id")
            .first()
        )
        answers = conversation.messages.filter(
            role=Message.Role.ASSISTANT, pk__gt=question.pk if question else 0
        )
        removed = list(answers.values_list("pk", flat=True))
        answers.delete()
        reply = _new_reply(conversation, model)
        reply.save()
        loaded = _history_sync(
            user=user, current=current, conversation_id=conversation.pk, before=reply.pk
        )
        admission = _admit(user, current, model, loaded, tool_specs)
    reply.attachment_list, reply.tool_call_list = [], []
    return Turn(
        user=user,
        current=current,
        conversation=conversation,
        model=model,
        question=question,
        reply=reply,
        admission=admission,
        tools=tools,
        replaced_ids=removed,
        preloaded_history=loaded,
    )


def begin_resume(
    *,
    user: Any,
    current: CurrentSettings,
    paused: Message,
    model: AvailableModel,
    tools: TurnTools,
    tool_specs: Sequence[ToolSpec] = (),
) -> Turn | None:
    """Continue a turn paused for the user, once every waiting call is decided. None when
    it is not waiting any more (resumed already, by another click or worker). Admitted with
    the estimate of the history as it stands (the calls' results come later, and run_turn
    covers them before the call); raises usage.Refused with nothing changed."""
    with transaction.atomic():
        claimed = Message.objects.filter(pk=paused.pk, status__in=WAITING).update(
            status=Message.Status.STREAMING, heartbeat_at=timezone.now()
        )
        if not claimed:
            return None
        reply = _new_reply(paused.conversation, model)
        reply.save()
        loaded = _history_sync(
            user=user,
            current=current,
            conversation_id=paused.conversation_id,
            before=reply.pk,
            resumed_id=paused.pk,
        )
        admission = _admit(user, current, model, loaded, tool_specs)
    paused.status = Message.Status.STREAMING
    paused.attachment_list = []
    reply.attachment_list, reply.tool_call_list = [], []
    return Turn(
        user=user,
        current=current,
        conversation=paused.conversation,
        model=model,
        question=paused,
        reply=reply,
        admission=admission,
        tools=tools,
        resume_from=paused,
    )


# Building the request --------------------------------------------------------------------


# The most recent messages loaded for a turn; trimming to the context window drops more.
HISTORY_LIMIT = 500


def _history_sync(
    *,
    user: Any,
    current: CurrentSettings,
    conversation_id: int,
    before: int,
    new: Sequence[Message] = (),
    resumed_id: int | None = None,
) -> tuple[list[ChatMessage], str]:
    """The stored history before message `before`, then `new`, and the turn's system prompt:
    one trip to the ORM thread. `new`: the turn's messages just stored (`before` is the
    first), attachments in hand; only what came before them is read. Answers still streaming
    (another tab's) are left out, but not `resumed_id`, the paused message a resume claimed."""
    in_flight = Q(status=Message.Status.STREAMING)
    if resumed_id is not None:
        in_flight &= ~Q(pk=resumed_id)
    recent = (
        Message.objects.filter(conversation_id=conversation_id, pk__lt=before)
        .exclude(in_flight)
        .order_by("-created_at", "-id")[:HISTORY_LIMIT]
    )
    rows = list(reversed(recent.prefetch_related("tool_calls")))
    files: dict[int, list[AttachmentData]] = {}
    if rows:
        for row in Attachment.objects.filter(
            message__conversation_id=conversation_id, message_id__gte=rows[0].pk,
            message_id__lt=before,
        ):  # fmt: skip
            files.setdefault(row.message_id, []).append(
                AttachmentData(row.filename, row.content_type, bytes(row.data))
            )
    for message in new:
        files[message.pk] = [
            AttachmentData(a.filename, a.content_type, bytes(a.data))
            for a in message.attachment_list
        ]
    rows += new
    question = next((r for r in reversed(rows) if r.role == Message.Role.USER), None)
    return history.to_chat_messages(rows, files), _system_prompt(user, current, question)


def _system_prompt(user: Any, current: CurrentSettings, question: Message | None) -> str:
    """The custom or default prompt with the date, the user's name, the page and a chosen
    prompt's extra instructions (assistant.system_prompt)."""
    return build_system_prompt(
        current=current,
        user=user,
        page_context=question.page_context if question else None,
        extra_instructions=question.extra_instructions if question else "",
    )


async def build_request(turn: Turn) -> tuple[ChatRequest, bool]:
    """The provider request for the turn's next step, and whether history was trimmed."""
    preloaded, turn.preloaded_history = turn.preloaded_history, None
    messages, system_prompt = preloaded or await sync_to_async(_history_sync)(
        user=turn.user,
        current=turn.current,
        conversation_id=turn.conversation.pk,
        before=turn.reply.pk,
    )
    specs = await turn.tools.specs()
    trimmed = history.trim(messages, model=turn.model, system_prompt=system_prompt, tools=specs)
    request = ChatRequest(
        model=turn.model,
        system_prompt=system_prompt,
        messages=trimmed.messages,
        tools=tuple(specs),
    )
    return request, trimmed.trimmed


# Streaming one step ----------------------------------------------------------------------

_END = object()
_STOP = object()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class _EventPump:
    """Reads the adapter's events in a task of its own, so a Stop can end the step at once,
    even while the provider is silent (a long think, a stalled connection)."""

    def __init__(self, events: AsyncIterator[Event]) -> None:
        self._items: deque[object] = deque()
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(events))

    def _put(self, item: object) -> None:
        self._items.append(item)
        self._ready.set()

    async def _run(self, events: AsyncIterator[Event]) -> None:
        try:
            async with aclosing(events) as stream:  # type: ignore[type-var]
                first = True
                async for event in stream:
                    self._put(event)
                    if first:
                        # Let the first delta be written before the rest of an already
                        # buffered answer is decoded (time to first token).
                        first = False
                        await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # handed to the loop, which logs it and fails the step
            self._put(_Failed(error))
        finally:
            self._put(_END)

    def interrupt(self) -> None:
        """Stop requested: the loop ends the step when it reaches this."""
        self._put(_STOP)

    async def next(self) -> object:
        """The next event, or _END, _STOP or a _Failed."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def more_text(self, kind: type[TextDelta] | type[ReasoningDelta]) -> str:
        """The text of the deltas of this kind already waiting right behind the current one:
        when the page is slower than the provider, several deltas leave as one event."""
        pieces = []
        while self._items and type(self._items[0]) is kind:
            pieces.append(self._items.popleft().text)  # type: ignore[union-attr]
        return "".join(pieces)

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


@dataclass
class _Step:
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
) -> AsyncIterator[TurnEvent]:
    adapter = adapter_for(turn.current, turn.model.provider_key)
    pump = _EventPump(adapter.stream(request))
    watch = stream_watch()
    watch.watch(message.pk, pump.interrupt)
    last_save = time.monotonic()
    try:
        while True:
            item = await pump.next()
            if item is _STOP:
                step.stopped = True
                return
            if item is _END:
                return
            if isinstance(item, _Failed):
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
        message.error_message = errors.describe(
            ProviderError(kind=step.failure_kind, message=""),  # type: ignore[arg-type]
            provider=message.provider,
            model=message.model,
        )
    elif step.stopped:
        message.status = Message.Status.STOPPED
        message.finish_reason = message.finish_reason or "stopped"
    elif not message.content and not step.calls and not message.reasoning:
        message.status = Message.Status.ERROR
        message.error_kind = errors.NO_RESPONSE
        message.error_message = errors.describe(
            ProviderError(kind=errors.NO_RESPONSE, message=""),  # type: ignore[arg-type]
            provider=message.provider,
            model=message.model,
        )
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
    output = history.estimate_output("".join(step.text), reasoning, step.calls)
    return Usage(step.input_tokens, output, history.estimate_text(reasoning)), True


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
        message.error_message = errors.describe(
            ProviderError(kind=errors.UNSAVED, message=""),  # type: ignore[arg-type]
            provider=message.provider,
            model=message.model,
        )
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


# The turn --------------------------------------------------------------------------------


async def run_turn(turn: Turn) -> AsyncIterator[TurnEvent]:
    """Run the turn's steps, yielding UI events; ends with StepEnded of the last message.

    With turn.resume_from (a message paused for the user, whose decisions are now stored),
    its calls run first and the turn goes on from there."""
    message = turn.reply
    step = _Step(started=turn.started)
    first_step = True
    try:
        if turn.resume_from is not None:
            outcome = await turn.tools.resume(turn.resume_from)
            turn.resume_from.tool_call_list = outcome.rows
            if outcome.paused_status:
                turn.resume_from.status = outcome.paused_status
            else:
                turn.resume_from.status = Message.Status.COMPLETE
            await Message.objects.filter(pk=turn.resume_from.pk).aupdate(
                status=turn.resume_from.status
            )
            yield StepEnded(turn.resume_from)
            if outcome.paused_status:
                await Message.objects.filter(pk=message.pk).adelete()
                return
            yield StepStarted(message)
        request, trimmed = await build_request(turn)
        message.history_trimmed = trimmed
        for number in range(1, MAX_STEPS + 1):
            input_tokens = history.estimate_request(request)
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
            if not await _persist(turn, message, step):
                break
            if not calls:
                break
            # Tools: run what may run; a call that needs the user pauses the turn.
            outcome = await turn.tools.handle(message, calls, last_step=last_step)
            message.tool_call_list = outcome.rows
            if outcome.paused_status:
                message.status = outcome.paused_status
                await Message.objects.filter(pk=message.pk).aupdate(status=message.status)
                break
            if last_step:
                break
            yield StepEnded(message)
            finished = message
            message = _new_reply(turn.conversation, turn.model)
            await message.asave()
            message.attachment_list, message.tool_call_list = [], []
            yield StepStarted(message)
            # The calls as the adapter produced them: their provider data (reasoning items,
            # thought signatures) must go back with the next request of this turn.
            assistant_message = ChatMessage(
                role="assistant",
                text=finished.content,
                reasoning=finished.reasoning,
                tool_calls=tuple(calls),
            )
            request = _continue_request(request, assistant_message, outcome.results)
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
        message.error_message = errors.describe(
            ProviderError(kind=errors.INTERNAL, message=""),  # type: ignore[arg-type]
            provider=message.provider,
            model=message.model,
        )
        await _persist(turn, message, step)
    # The admission's reservation is settled by usage.releasing around the whole stream.
    yield StepEnded(message)


def _continue_request(
    request: ChatRequest, assistant: ChatMessage, results: Sequence[ChatMessage]
) -> ChatRequest:
    return ChatRequest(
        model=request.model,
        system_prompt=request.system_prompt,
        messages=(*request.messages, assistant, *results),
        tools=request.tools,
        provider_options=request.provider_options,
    )


# Stop ------------------------------------------------------------------------------------


async def request_stop(user: Any, conversation_id: int, message_id: int) -> bool:
    """Set the Stop flag that the streaming worker (any process, any host) polls. False when
    the message is not this user's."""
    updated = await Message.objects.filter(
        pk=message_id,
        conversation_id=conversation_id,
        conversation__user=user,
        role=Message.Role.ASSISTANT,
    ).aupdate(stop_requested=True)
    return updated > 0


__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_STEPS",
    "ReasoningChunk",
    "StepEnded",
    "StepStarted",
    "TextChunk",
    "Turn",
    "TurnEvent",
    "ToolSpec",
    "begin_resume",
    "build_request",
    "request_stop",
    "retry_turn",
    "run_turn",
    "start_turn",
]
