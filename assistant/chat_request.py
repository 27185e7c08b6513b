"""What a turn sends to the provider: its stored history (read in one trip to the ORM thread)
with the turn's system prompt, trimmed to the model's context window, and the request of the
next step once a step's tool calls have results."""

from __future__ import annotations

from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.db.models import Q

from ai_settings.current import CurrentSettings
from assistant import history
from assistant.models import Attachment, Message
from assistant.providers.base import AttachmentData, ChatMessage, ChatRequest
from assistant.system_prompt import build_system_prompt
from assistant.turn_types import Turn
from prompts.users import User

# The most recent messages loaded for a turn; trimming to the context window drops more.
HISTORY_LIMIT = 500


def load_history(
    *,
    user: User,
    current: CurrentSettings,
    conversation_id: int,
    before: int,
    new: Sequence[Message] = (),
    new_files: Sequence[Attachment] = (),
    resumed_id: int | None = None,
) -> tuple[list[ChatMessage], str]:
    """The stored history before message `before`, then `new`, and the turn's system prompt
    (synchronous). `new`: the turn's messages just stored (`before` is the first), with
    `new_files`, their attachments in hand; only what came before them is read. Answers still
    streaming (another tab's) are left out, but not `resumed_id`, the paused message a resume
    claimed."""
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
    for a in new_files:
        files.setdefault(a.message_id, []).append(
            AttachmentData(a.filename, a.content_type, bytes(a.data))
        )
    rows += new
    question = next((r for r in reversed(rows) if r.role == Message.Role.USER), None)
    return history.to_chat_messages(rows, files), _system_prompt(user, current, question)


def _system_prompt(user: User, current: CurrentSettings, question: Message | None) -> str:
    """The custom or default prompt with the date, the user's name, the page and a chosen
    prompt's extra instructions (assistant.system_prompt)."""
    return build_system_prompt(
        current=current,
        user=user,
        page_context=question.page_context if question else None,
        extra_instructions=question.extra_instructions if question else "",
    )


async def build_request(turn: Turn) -> tuple[ChatRequest, bool]:
    """The provider request for the turn's first step, and whether history was trimmed."""
    preloaded, turn.preloaded_history = turn.preloaded_history, None
    messages, system_prompt = preloaded or await sync_to_async(load_history)(
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


def continue_request(
    request: ChatRequest, assistant: ChatMessage, results: Sequence[ChatMessage]
) -> ChatRequest:
    """The next step's request: this one's, then the step's answer with its tool calls and
    their results."""
    return ChatRequest(
        model=request.model,
        system_prompt=request.system_prompt,
        messages=(*request.messages, assistant, *results),
        tools=request.tools,
        provider_options=request.provider_options,
    )
