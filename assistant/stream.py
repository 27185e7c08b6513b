"""A turn as Server-Sent Events for htmx's hx-sse extension.

Every event is an unnamed SSE message whose data is an HTML fragment of <hx-partial>
elements (templates/assistant/stream/): htmx swaps each into the element its hx-target
names. Per text chunk the fragment is the escaped text wrapped in a pre-rendered partial
that appends it (no template rendering, no markdown, no database work per chunk); at the
end of a step the message is replaced by its final render (sanitized markdown, footer).
"""

from __future__ import annotations

import html
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import lru_cache

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string

from assistant import chat, display, errors, usage
from assistant.models import Message
from assistant.turn_types import ReasoningChunk, StepEnded, StepStarted, TextChunk, Turn

_SENTINEL = "\x00chunk\x00"


def sse(fragment: str) -> bytes:
    """One unnamed SSE message; each line of the fragment becomes a data: line."""
    fragment = fragment.replace("\r\n", "\n").replace("\r", "\n")
    return ("data: " + fragment.replace("\n", "\ndata: ") + "\n\n").encode()


@lru_cache(maxsize=4)
def _append_frame(kind: str) -> tuple[str, str]:
    """The append partial split around its text, rendered once per kind."""
    rendered = render_to_string(
        "assistant/stream/append.html", {"kind": kind, "text": _SENTINEL, "id": "\x01"}
    ).strip()
    head, tail = rendered.split(_SENTINEL)
    return head, tail


def chunk_event(kind: str, message_id: int, text: str) -> bytes:
    head, tail = _append_frame(kind)
    return sse(head.replace("\x01", str(message_id)) + html.escape(text, quote=False) + tail)


def turn_started_event(turn: Turn, page: dict[str, object]) -> bytes:
    """`page`: new_conversation, in_panel, conversations and csrf_token, for the header of a
    conversation the message just created."""
    context = {
        **page,
        "added": [
            display.message_view(
                message, attachments=turn.attachments if message is turn.question else ()
            )
            for message in turn.added
        ],
        "reply": display.message_view(turn.reply),
        "conversation": turn.conversation,
        "replaced_ids": turn.replaced_ids,
        "resuming": turn.resume_from is not None,
    }
    return sse(render_to_string("assistant/stream/turn_started.html", context))


async def _final(turn: Turn, ended: StepEnded) -> display.MessageView:
    """A message at the end of a step, with its tool calls; paused for the user, with their
    cards."""
    message, calls = ended.message, ended.tool_calls
    if message.status in display.WAITING:
        tool_calls = await sync_to_async(display.tool_call_views)(calls, turn.user, turn.current)
    else:
        tool_calls = tuple(map(display.ToolCallView, calls))
    return display.message_view(
        message, tool_calls=tool_calls, can_retry=message.status == Message.Status.ERROR
    )


def message_event(
    template: str, shown: display.MessageView, csrf_token: object = None, extra: str = ""
) -> bytes:
    return sse(render_to_string(template, {"shown": shown, "csrf_token": csrf_token}) + extra)


async def budget_fragment(turn: Turn) -> str:
    """The user's daily tokens left (usage controls), to refresh after every step. No budget
    applied when the turn was admitted: nothing to look up again."""
    tokens_left = None
    if turn.admission.budget is not None:
        tokens_left = await usage.aremaining_budget(turn.user, turn.current)
    return render_to_string("assistant/stream/budget.html", {"tokens_left": tokens_left})


def turn_events(turn: Turn, page: dict[str, object] | None = None) -> AsyncGenerator[bytes, None]:
    """The whole SSE body of one turn. However it ends (finished, failed, or closed because
    the client went away), the turn's budget reservation is released."""
    return usage.releasing(turn.admission, _turn_events(turn, page))


async def _turn_events(turn: Turn, page: dict[str, object] | None) -> AsyncGenerator[bytes, None]:
    page = page or {}
    csrf_token = page.get("csrf_token")
    yield turn_started_event(turn, page)
    async with aclosing(chat.run_turn(turn)) as events:
        async for event in events:
            if isinstance(event, TextChunk):
                yield chunk_event("text", event.message.pk, event.text)
            elif isinstance(event, ReasoningChunk):
                yield chunk_event("reasoning", event.message.pk, event.text)
            elif isinstance(event, StepEnded):
                message = event.message
                # Without a database (the answer could not be saved) there is no budget to show.
                budget = "" if message.error_kind == errors.UNSAVED else await budget_fragment(turn)
                yield message_event(
                    "assistant/stream/message_final.html",
                    await _final(turn, event),
                    csrf_token,
                    extra=budget,
                )
            elif isinstance(event, StepStarted):
                yield message_event(
                    "assistant/stream/message_added.html",
                    display.message_view(event.message),
                    csrf_token,
                )
