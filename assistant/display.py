"""What the chat templates show: a conversation's messages ready to render, and the model
picker (the models the user may pick right now, grouped by provider)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from ai_settings.catalog import AvailableModel
from ai_settings.current import CurrentSettings
from assistant import attachments, page_context
from assistant.heartbeat import interrupt_abandoned
from assistant.models import Attachment, Conversation, Message, ToolCall
from assistant.tool_calls import approval_context, question_context
from assistant.tools import get_tool
from assistant.usage import models_for_user, remaining_budget

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


def messages_for_display(conversation: Conversation) -> list[Message]:
    """The conversation's messages with their files (metadata only) and tool calls, and
    whether the last one can be retried. An answer whose worker died shows as interrupted."""
    interrupt_abandoned(conversation.pk)
    messages = list(conversation.messages.prefetch_related("tool_calls"))
    files: dict[int, list[Attachment]] = {}
    for row in Attachment.objects.filter(message__conversation=conversation).defer("data"):
        files.setdefault(row.message_id, []).append(row)
    for message in messages:
        message.attachment_list = files.get(message.pk, [])
        message.tool_call_list = list(message.tool_calls.all())
        message.can_retry = False
    if messages and messages[-1].status == Message.Status.ERROR:
        messages[-1].can_retry = True
    return messages


WAITING = (Message.Status.AWAITING_APPROVAL, Message.Status.AWAITING_ANSWER)


def prepare_cards(messages: Sequence[Message], user: Any, current: CurrentSettings) -> None:
    """Give each call waiting for the user its card (the approval card or the ask_user
    form) as `card_template` and `card_context` (sync: a preview counts items)."""
    for message in messages:
        for call in getattr(message, "tool_call_list", ()):
            if call.status != ToolCall.Status.PENDING:
                continue
            tool = get_tool(call.name)
            if tool is not None and tool.interactive:
                call.card_template = "assistant/_ask_user_form.html"
                call.card_context = question_context(
                    call,
                    answer_url=reverse("assistant:tool_answer", args=[call.pk]),
                    dismiss_url=reverse("assistant:tool_dismiss", args=[call.pk]),
                )
            else:
                call.card_template = "assistant/_tool_approval.html"
                call.card_context = approval_context(
                    call,
                    user,
                    current,
                    approve_url=reverse("assistant:tool_approve", args=[call.pk]),
                    deny_url=reverse("assistant:tool_deny", args=[call.pk]),
                )


def ready_to_resume(message: Message) -> bool:
    """A paused message whose waiting calls are all decided: its turn can go on."""
    return message.status in WAITING and not any(
        call.status == ToolCall.Status.PENDING for call in getattr(message, "tool_call_list", ())
    )


def conversations_for(user: Any) -> list[Conversation]:
    return list(Conversation.objects.filter(user=user)[:RECENT_CONVERSATIONS])


def chat_context(
    user: Any,
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
    chat_messages = messages_for_display(conversation) if conversation else []
    prepare_cards(chat_messages, user, current)
    resumable = next((m for m in chat_messages if ready_to_resume(m)), None)
    return {
        "conversation": conversation,
        "chat_messages": chat_messages,
        "resume_message": resumable,
        "picker": model_picker(models, conversation, fallback_key=last_key),
        "page_url": page_url,
        "page_object": page_context.admin_object(page_url) if page_url else None,
        "in_panel": in_panel,
        "attachment_accept": attachments.ACCEPT,
        "conversations": conversations_for(user),
        "tokens_left": remaining_budget(user, current),
    }
