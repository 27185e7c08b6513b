"""What a chat turn is, as data: the Turn that assistant.turns starts and assistant.chat runs,
the empty answer each of its steps begins with, and the events the loop yields to the stream
(assistant.stream)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from ai_settings.catalog import AvailableModel
from ai_settings.current import CurrentSettings
from assistant import usage
from assistant.models import Attachment, Conversation, Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers.base import ChatMessage
from assistant.tool_calls import NO_TOOLS, TurnTools
from prompts.users import User


@dataclass
class Turn:
    user: User
    current: CurrentSettings
    conversation: Conversation
    model: AvailableModel
    # The message the turn answers: a new message's question, a retry's (None when it finds
    # none before the failed answer), the paused answer a resume goes on from.
    question: Message | None
    reply: Message
    admission: usage.Admission
    tools: TurnTools = NO_TOOLS
    started: float = field(default_factory=time.monotonic)
    resume_from: Message | None = None
    # The message created the conversation: the page shows its header and the sidebar entry.
    created_conversation: bool = False
    # Retry: the failed answer's messages, removed from the page when the new one starts.
    replaced_ids: list[int] = field(default_factory=list)
    # Shown when the stream starts, before the answer: a chosen prompt's messages and the
    # question.
    added: list[Message] = field(default_factory=list)
    # The question's files as stored (a new message's only), shown with it.
    attachments: tuple[Attachment, ...] = ()
    # The first request's history and system prompt, when loaded with the turn's messages.
    preloaded_history: tuple[list[ChatMessage], str] | None = None

    @property
    def key(self) -> str:
        """The turn's key in the turn channel, stored on each of its answers."""
        return self.reply.turn_key


def new_turn_key() -> str:
    return uuid.uuid4().hex


def new_reply(conversation: Conversation, model: AvailableModel, turn_key: str) -> Message:
    """The empty assistant message a step of the turn `turn_key` streams into (not saved
    yet)."""
    return Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        provider=model.provider_label,
        model=model.model_id,
        turn_key=turn_key,
    )


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
    paused for the user (awaiting approval / an answer). `tool_calls`: the step's calls as
    stored, in order."""

    message: Message
    tool_calls: tuple[ToolCallRow, ...] = ()


TurnEvent = TextChunk | ReasoningChunk | StepStarted | StepEnded
