"""The seam between the chat loop and the tool registry.

The loop asks a TurnTools for the specs to send, and hands it every step's tool calls; the
implementation stores the calls (ToolCall rows), runs those that may run with the user's
permissions, and says whether the turn must pause for the user (an approval card, or an
`ask_user` question). A paused turn resumes in a new stream with `resume`, after the user's
decision has been stored on the rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from assistant.models import Message
from assistant.models import ToolCall as ToolCallRow
from assistant.providers.base import ChatMessage, ToolSpec
from assistant.providers.events import ToolCall


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

__all__ = ["NO_TOOLS", "StepTools", "TurnTools", "Message"]
