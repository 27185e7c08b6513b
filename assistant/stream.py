"""A turn's events as the HTML fragments htmx's hx-sse extension swaps in, and as the
Server-Sent Events that carry them.

A fragment is a run of <hx-partial> elements (templates/assistant/stream/): htmx swaps each
into the element its hx-target names. The worker running a turn renders its events to
fragments once (`turn_fragments`) and publishes them to the turn channel; every follower
relays them as they are, each an SSE message with the fragment's event id. Text chunks stay
`Chunk`s until then, so that the publisher can join those that come faster than it sends
(assistant.turn_tasks); a chunk's fragment is the escaped text wrapped in a pre-rendered
partial that appends it (no template rendering, no markdown, no database work per chunk). At
the end of a step the message is replaced by its final render (sanitized markdown, footer).

Every turn's first event is its `reset`: the turn's messages as they were when it started.
Replayed from there, a turn's events rebuild its answer on any page, whatever the page
showed of it before.
"""

from __future__ import annotations

import html
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from functools import lru_cache

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string

from assistant import chat, display, errors, usage
from assistant.models import Message
from assistant.turn_types import ReasoningChunk, StepEnded, StepStarted, TextChunk, Turn

_SENTINEL = "\x00chunk\x00"

DONE = b"event: done\ndata: \n\n"
"""The last event of every stream of a turn: the page's follower closes on it (hx-sse:close)."""


def sse(fragment: str, event_id: int | None = None) -> bytes:
    """One unnamed SSE message; each line of the fragment becomes a data: line."""
    fragment = fragment.replace("\r\n", "\n").replace("\r", "\n")
    head = "" if event_id is None else f"id: {event_id}\n"
    return (head + "data: " + fragment.replace("\n", "\ndata: ") + "\n\n").encode()


@dataclass(frozen=True)
class Chunk:
    """Text (kind "text") or reasoning streamed into a message."""

    kind: str
    message_id: int
    text: str


Fragment = Chunk | str


@lru_cache(maxsize=4)
def _append_frame(kind: str) -> tuple[str, str]:
    """The append partial split around its text, rendered once per kind."""
    rendered = render_to_string(
        "assistant/stream/append.html", {"kind": kind, "text": _SENTINEL, "id": "\x01"}
    ).strip()
    head, tail = rendered.split(_SENTINEL)
    return head, tail


def chunk_html(chunk: Chunk) -> str:
    head, tail = _append_frame(chunk.kind)
    return head.replace("\x01", str(chunk.message_id)) + html.escape(chunk.text, quote=False) + tail


def turn_started_event(turn: Turn, page: dict[str, object]) -> bytes:
    """The first event of the response to the request that started the turn: the question,
    the turn's place on the page, and the follower that takes the turn over should this
    response end before it. `page`: new_conversation, in_panel, conversations and
    csrf_token, for the header of a conversation the message just created."""
    context = {
        **page,
        "added": [
            display.message_view(
                message, attachments=turn.attachments if message is turn.question else ()
            )
            for message in turn.added
        ],
        "turn": display.RunningTurn(turn.key, _started_messages(turn), trigger="chat:follow"),
        "conversation": turn.conversation,
        "replaced_ids": turn.replaced_ids,
    }
    return sse(render_to_string("assistant/stream/turn_started.html", context))


def _started_messages(turn: Turn) -> tuple[display.MessageView, ...]:
    """The turn's messages when it starts: its empty answer (a resumed turn adds it later)."""
    return () if turn.resume_from is not None else (display.message_view(turn.reply),)


def reset_fragment(turn: Turn) -> str:
    """The turn's first event: its messages as they were when it started."""
    return render_to_string(
        "assistant/stream/turn_reset.html",
        {"turn": display.RunningTurn(turn.key, _started_messages(turn))},
    )


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


def message_fragment(template: str, shown: display.MessageView, **context: object) -> str:
    """A message partial. Published fragments hold no CSRF token: the page's forms send the
    page's own (hx-headers), so any tab of any session can show them."""
    return render_to_string(template, {"shown": shown, **context})


async def budget_fragment(turn: Turn) -> str:
    """The user's daily tokens left (usage controls), to refresh after every step. No budget
    applied when the turn was admitted: nothing to look up again."""
    tokens_left = None
    if turn.admission.budget is not None:
        tokens_left = await usage.aremaining_budget(turn.user, turn.current)
    return render_to_string("assistant/stream/budget.html", {"tokens_left": tokens_left})


async def turn_fragments(turn: Turn) -> AsyncGenerator[Fragment, None]:
    """The fragments of the turn's events, after its reset, as the loop runs it."""
    async with aclosing(chat.run_turn(turn)) as events:
        async for event in events:
            if isinstance(event, TextChunk):
                yield Chunk("text", event.message.pk, event.text)
            elif isinstance(event, ReasoningChunk):
                yield Chunk("reasoning", event.message.pk, event.text)
            elif isinstance(event, StepEnded):
                message = event.message
                # Without a database (the answer could not be saved) there is no budget to show.
                budget = "" if message.error_kind == errors.UNSAVED else await budget_fragment(turn)
                final = message_fragment(
                    "assistant/stream/message_final.html", await _final(turn, event)
                )
                yield final + budget
            elif isinstance(event, StepStarted):
                yield message_fragment(
                    "assistant/stream/message_added.html",
                    display.message_view(event.message),
                    turn_key=turn.key,
                )


FOLLOW_AGAIN_TRIGGER = "load delay:2s"


def settled_fragment(turn: display.RunningTurn) -> str:
    """A turn's answers as stored, in place of what the page shows of them: how a follower
    ends when the turn's events cannot be had (they expired, the worker that ran the turn
    died, or it has not published yet). While an answer is still being written, a new
    follower tries again shortly."""
    again = display.RunningTurn(turn.key, trigger=FOLLOW_AGAIN_TRIGGER)
    return render_to_string(
        "assistant/stream/turn_reset.html",
        {"turn": turn, "follow_again": turn.writing, "again": again},
    )
