"""What the chat templates show, as small frozen view objects built from the stored rows:
each message with its files, its tool calls and their cards (MessageView, ToolCallView), the
model picker (the models the user may pick right now, grouped by provider) and the rest of
the chat's context. Building them only reads: a GET never writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from django.urls import reverse

from ai_settings.catalog import AvailableModel
from ai_settings.current import CurrentSettings
from assistant import heartbeat, page_context
from assistant.attachments import ACCEPT
from assistant.models import Attachment, Conversation, Message, ToolCall
from assistant.tool_calls import approval_context, question_context
from assistant.tools import get_tool
from assistant.usage import models_for_user, remaining_budget
from prompts.users import User

RECENT_CONVERSATIONS = 50


@dataclass(frozen=True)
class ModelGroup:
    label: str
    models: tuple[AvailableModel, ...]


@dataclass(frozen=True)
class ModelPicker:
    groups: tuple[ModelGroup, ...]
    selected: AvailableModel | None
    # The conversation's model is no longer allowed: say so, and let the user choose again.
    unavailable_key: str = ""

    @property
    def empty(self) -> bool:
        return not self.groups


def group_models(models: Sequence[AvailableModel]) -> tuple[ModelGroup, ...]:
    groups: dict[str, list[AvailableModel]] = {}
    labels: dict[str, str] = {}
    for model in models:
        groups.setdefault(model.provider_key, []).append(model)
        labels[model.provider_key] = model.provider_label
    return tuple(ModelGroup(labels[key], tuple(found)) for key, found in groups.items())


def model_picker(
    models: Sequence[AvailableModel], conversation: Conversation | None, fallback_key: str = ""
) -> ModelPicker:
    by_key = {m.key: m for m in models}
    groups = group_models(models)
    if conversation is not None and conversation.model_key:
        selected = by_key.get(conversation.model_key)
        if selected is None:
            return ModelPicker(groups, None, unavailable_key=conversation.model_key)
        return ModelPicker(groups, selected)
    selected = by_key.get(fallback_key) or (models[0] if models else None)
    return ModelPicker(groups, selected)


WAITING = (Message.Status.AWAITING_APPROVAL, Message.Status.AWAITING_ANSWER)
APPROVAL_CARD = "assistant/_tool_approval.html"
QUESTION_CARD = "assistant/_ask_user_form.html"


@dataclass(frozen=True)
class ToolCallView:
    """A tool call as shown; while it waits for the user, with the card that asks (the
    approval card or the ask_user form) and that card's context."""

    call: ToolCall
    card_template: str = ""
    card_context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageView:
    """A message as assistant/partials/message.html shows it. `status` and `finish_reason`
    are the shown ones: an answer whose worker died shows as interrupted before a turn
    stores it so."""

    message: Message
    status: str
    finish_reason: str
    attachments: tuple[Attachment, ...] = ()
    tool_calls: tuple[ToolCallView, ...] = ()
    can_retry: bool = False

    @property
    def ready_to_resume(self) -> bool:
        """Paused for the user, and every waiting call is decided: the turn can go on."""
        return self.status in WAITING and not any(
            shown.call.status == ToolCall.Status.PENDING for shown in self.tool_calls
        )


def message_view(
    message: Message,
    *,
    attachments: Iterable[Attachment] = (),
    tool_calls: Iterable[ToolCallView] = (),
    can_retry: bool = False,
    abandoned: bool = False,
) -> MessageView:
    """`abandoned`: a streaming answer whose worker is gone (assistant.heartbeat), shown as
    interrupted, as the next turn will store it."""
    status, finish_reason = message.status, message.finish_reason
    if abandoned:
        status = finish_reason = Message.Status.INTERRUPTED.value
    return MessageView(
        message, status, finish_reason, tuple(attachments), tuple(tool_calls), can_retry
    )


@dataclass(frozen=True)
class RunningTurn:
    """A turn still being written, as assistant/partials/turn.html shows it: its messages so
    far and the follower that streams the rest (from the turn channel) on `trigger`."""

    key: str
    messages: tuple[MessageView, ...] = ()
    trigger: str = "load"

    @property
    def writing(self) -> bool:
        """One of its answers is still being written (by a live worker)."""
        return any(shown.status == Message.Status.STREAMING for shown in self.messages)


def running_turn(shown: Sequence[MessageView]) -> RunningTurn | None:
    """The turn the conversation's last message is still being written by (its heartbeat is
    fresh), with its messages: the last ones, those the same turn wrote."""
    if not shown or shown[-1].status != Message.Status.STREAMING:
        return None
    key = shown[-1].message.turn_key
    if not key:
        return None
    first = len(shown)
    while first > 0 and shown[first - 1].message.turn_key == key:
        first -= 1
    return RunningTurn(key, tuple(shown[first:]))


def question_view(
    call: ToolCall,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[int, str] | None = None,
) -> ToolCallView:
    """A waiting ask_user call with its answer form; after a refused answer, with what was
    posted and the errors."""
    context = question_context(
        call,
        answer_url=reverse("assistant:tool_answer", args=[call.pk]),
        dismiss_url=reverse("assistant:tool_dismiss", args=[call.pk]),
        form=form,
        errors=errors,
    )
    return ToolCallView(call, QUESTION_CARD, MappingProxyType(context))


def tool_call_views(
    calls: Iterable[ToolCall], user: User, current: CurrentSettings
) -> tuple[ToolCallView, ...]:
    """The calls, each waiting one with its card (sync: an approval card's preview counts
    the items it would change)."""
    shown = []
    for call in calls:
        if call.status != ToolCall.Status.PENDING:
            shown.append(ToolCallView(call))
            continue
        tool = get_tool(call.name)
        if tool is not None and tool.interactive:
            shown.append(question_view(call))
            continue
        context = approval_context(
            call,
            user,
            current,
            approve_url=reverse("assistant:tool_approve", args=[call.pk]),
            deny_url=reverse("assistant:tool_deny", args=[call.pk]),
        )
        shown.append(ToolCallView(call, APPROVAL_CARD, MappingProxyType(context)))
    return tuple(shown)


def message_views(
    conversation: Conversation, user: User, current: CurrentSettings
) -> list[MessageView]:
    """The conversation's messages with their files (metadata only) and tool calls (with
    their cards), whether the last one can be retried, and an answer whose worker died as
    interrupted. Only reads (sync: runs queries)."""
    messages = list(conversation.messages.prefetch_related("tool_calls"))
    files: dict[int, list[Attachment]] = {}
    for row in Attachment.objects.filter(message__conversation=conversation).defer("data"):
        files.setdefault(row.message_id, []).append(row)
    return _views(messages, files, user, current)


def _views(
    messages: list[Message],
    files: Mapping[int, Sequence[Attachment]],
    user: User,
    current: CurrentSettings,
) -> list[MessageView]:
    cutoff = heartbeat.stale_before()
    last = messages[-1] if messages else None
    return [
        message_view(
            message,
            attachments=files.get(message.pk, ()),
            tool_calls=tool_call_views(message.tool_calls.all(), user, current),
            can_retry=message is last and message.status == Message.Status.ERROR,
            abandoned=heartbeat.is_abandoned(message, cutoff),
        )
        for message in messages
    ]


def stored_turn(turn_key: str, user: User, current: CurrentSettings) -> RunningTurn:
    """A turn's answers as stored, with their tool calls (sync: runs queries). The user's
    only: another user's turn has no messages here."""
    messages = Message.objects.filter(turn_key=turn_key, conversation__user=user)
    ordered = list(messages.order_by("created_at", "id").prefetch_related("tool_calls"))
    return RunningTurn(turn_key, tuple(_views(ordered, {}, user, current)))


def decided_message_view(message: Message, user: User, current: CurrentSettings) -> MessageView:
    """A paused answer read again after a decision on one of its calls (sync)."""
    calls = message.tool_calls.order_by("created_at", "id")
    return message_view(message, tool_calls=tool_call_views(calls, user, current))


def conversations_for(user: User) -> list[Conversation]:
    return list(Conversation.objects.filter(user=user)[:RECENT_CONVERSATIONS])


def chat_context(
    user: User,
    current: CurrentSettings,
    conversation: Conversation | None,
    *,
    page_url: str = "",
    in_panel: bool = False,
) -> dict[str, Any]:
    """Everything templates/assistant/partials/chat.html needs (sync: runs queries)."""
    models = models_for_user(user, current)
    last_key = (
        Conversation.objects.filter(user=user)
        .exclude(model_key="")
        .values_list("model_key", flat=True)
        .first()
        or ""
    )
    chat_messages = message_views(conversation, user, current) if conversation else []
    resumable = next((shown for shown in chat_messages if shown.ready_to_resume), None)
    running = running_turn(chat_messages)
    if running is not None:
        chat_messages = chat_messages[: len(chat_messages) - len(running.messages)]
    return {
        "conversation": conversation,
        "chat_messages": chat_messages,
        "running_turn": running,
        "resume_message": resumable.message if resumable else None,
        "picker": model_picker(models, conversation, fallback_key=last_key),
        "page_url": page_url,
        "page_object": page_context.admin_object(page_url) if page_url else None,
        "in_panel": in_panel,
        "attachment_accept": ACCEPT,
        "conversations": conversations_for(user),
        "tokens_left": remaining_budget(user, current),
    }
