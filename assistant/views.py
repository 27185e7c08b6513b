"""The assistant's pages and the chat endpoints. Every view requires App access; another
user's conversation or message is a 404, never a 403.

The page, the conversation and the slide-in panel render the same partials. Sending a
message, Retry and resuming a paused turn are async views: assistant.turns begins the turn
(one trip to the database thread), the response starts it as work of the worker process
(assistant.turn_tasks) and follows it, as `text/event-stream` of htmx partials; any page that
shows the turn follows it the same way (`follow`, assistant.turn_followers). A turn refused
before any provider call (bad input, a model not allowed, files refused, rate limit or budget,
too many answers being written) is a turns.TurnRefused, answered 4xx by `_refusal` with a
partial that puts the reason above the message box.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from ai_settings.current import CurrentSettings, get_current
from assistant import (
    chat,
    display,
    tool_calls,
    turn_channel,
    turn_followers,
    turn_tasks,
    turns,
)
from assistant.access import app_access_required
from assistant.forms import RenameForm
from assistant.models import Conversation, Message, ToolCall
from assistant.turn_types import Turn
from prompts.request_numbers import object_id
from prompts.users import SignedInRequest, User

# Pages and partials (sync) -----------------------------------------------------------------


def _current_page(request: SignedInRequest) -> str:
    """The page the panel was opened on (htmx sends it), or this request's path."""
    htmx = request.htmx
    if htmx and htmx.current_url_abs_path:
        return htmx.current_url_abs_path
    return request.get_full_path()


def _render_chat(
    request: SignedInRequest,
    conversation: Conversation | None,
    *,
    in_panel: bool,
    status: int = 200,
    template: str = "assistant/partials/chat.html",
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    page_url = request.GET.get("page") or (_current_page(request) if in_panel else "")
    context = display.chat_context(
        request.user, get_current(), conversation, page_url=page_url, in_panel=in_panel
    )
    context.update(extra or {})
    return render(request, template, context, status=status)


def _own_conversation(request: SignedInRequest, pk: int) -> Conversation:
    return get_object_or_404(Conversation, pk=pk, user=request.user)


@app_access_required
@require_GET
def index(request: SignedInRequest) -> HttpResponse:
    """The full page with a new, empty chat."""
    return _render_chat(request, None, in_panel=False, template="assistant/index.html")


@app_access_required
@require_GET
def conversation(request: SignedInRequest, pk: int) -> HttpResponse:
    return _render_chat(
        request, _own_conversation(request, pk), in_panel=False, template="assistant/index.html"
    )


@app_access_required
@require_GET
def panel(request: SignedInRequest) -> HttpResponse:
    """The slide-in panel's chat: ?conversation=<pk>, else the most recent one."""
    chosen = request.GET.get("conversation", "")
    if chosen:
        found: Conversation | None = _own_conversation(request, object_id(chosen))
    elif request.GET.get("new"):
        found = None
    else:
        found = Conversation.objects.filter(user=request.user).first()
    return _render_chat(request, found, in_panel=True)


def _after_change(request: SignedInRequest, conversation: Conversation | None) -> HttpResponse:
    """htmx (the panel): the chat partial; a plain form (the full page): a redirect."""
    if request.htmx:
        return _render_chat(request, conversation, in_panel=True)
    if conversation is None:
        return redirect("assistant:index")
    return redirect("assistant:conversation", pk=conversation.pk)


@app_access_required
@require_POST
def new_conversation(request: SignedInRequest) -> HttpResponse:
    """Start a conversation; an empty one the user already has is reused."""
    empty = Conversation.objects.filter(user=request.user, messages__isnull=True).first()
    created = empty or Conversation.objects.create(user=request.user)
    return _after_change(request, created)


@app_access_required
@require_POST
def rename_conversation(request: SignedInRequest, pk: int) -> HttpResponse:
    found = _own_conversation(request, pk)
    form = RenameForm(request.POST, instance=found)
    if form.is_valid():
        form.save()
        return _after_change(request, found)
    found.refresh_from_db()
    return _render_chat(
        request,
        found,
        in_panel=bool(request.htmx),
        status=400,
        template="assistant/partials/chat.html" if request.htmx else "assistant/index.html",
        extra={"rename_form": form},
    )


@app_access_required
@require_POST
def delete_conversation(request: SignedInRequest, pk: int) -> HttpResponse:
    _own_conversation(request, pk).delete()
    return _after_change(request, Conversation.objects.filter(user=request.user).first())


# Sending, retrying and stopping (async) ------------------------------------------------------


def _refusal(refused: turns.TurnRefused) -> HttpResponse:
    """A turn that did not start: the reason above the message box, and the model picker
    again when the model was the problem."""
    picker = None
    if refused.models is not None:
        picker = display.model_picker(refused.models, refused.conversation)
    body = render_to_string(
        "assistant/stream/refusal.html", {"refusal": refused.message, "picker": picker}
    )
    return HttpResponse(body, status=refused.status, headers=refused.headers)


def _event_stream(body: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must pass each event on at once
    return response


def _begin(
    request: SignedInRequest, user: User, begin: Callable[[User], Turn | None]
) -> tuple[Turn | None, dict[str, Any]]:
    """`begin(user)`, and the page a conversation the turn created needs (its header, the
    sidebar's list): synchronous, so that both take one trip to the database thread."""
    turn = begin(user)
    page: dict[str, Any] = {"csrf_token": get_token(request)}
    if turn is not None and turn.created_conversation:
        page.update(
            new_conversation=True,
            in_panel=request.POST.get("surface") == "panel",
            conversations=display.conversations_for(user),
        )
    return turn, page


async def _stream_turn(
    request: SignedInRequest, begin: Callable[[User], Turn | None]
) -> HttpResponseBase:
    """Begin a turn with `begin(user)` (turns.start, retry or resume, reading the form there)
    in one trip to the database thread (time to first token), then stream its answer. A
    TurnRefused is answered here, for all three; None (a blank message) is ignored."""
    user = await request.auser()
    try:
        turn, page = await sync_to_async(_begin)(request, user, begin)
    except turns.TurnRefused as refused:
        return _refusal(refused)
    if turn is None:
        return HttpResponse(status=204)
    if isinstance(request, ASGIRequest):
        # Started now, on the server's event loop: it runs even if the client is gone
        # before the response starts.
        reset_id = await turn_tasks.launch(turn)
        return _event_stream(turn_followers.started(turn, page, reset_id=reset_id))
    return _event_stream(turn_followers.started(turn, page, launch=True))


@app_access_required
@require_POST
async def send(request: SignedInRequest, pk: int | None = None) -> HttpResponseBase:
    """POST a message; the answer streams back as text/event-stream."""
    started = time.monotonic()
    return await _stream_turn(
        request, lambda user: turns.start(user, request.POST, request.FILES, pk, started)
    )


@app_access_required
@require_POST
async def retry(request: SignedInRequest) -> HttpResponseBase:
    """Answer the last question again (after an error), with the picker's model."""
    return await _stream_turn(
        request,
        lambda user: turns.retry(user, request.POST.get("message"), request.POST.get("model")),
    )


def _followable(user: User, turn_key: str) -> CurrentSettings:
    """The settings to show the user's turn with; a 404 for a turn that is not theirs."""
    if not Message.objects.filter(turn_key=turn_key, conversation__user=user).exists():
        raise Http404("No such answer.")
    return get_current()


@app_access_required
@require_GET
async def follow(request: SignedInRequest, turn_key: str) -> HttpResponseBase:
    """Follow a turn (any page, tab or worker): its events so far, then the live ones, to its
    end. A follower reconnecting sends the last event it had (Last-Event-ID)."""
    try:
        after = turn_channel.event_id_from_header(request.headers.get("Last-Event-ID"))
    except turn_channel.ReplayUnavailable as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    user = await request.auser()
    current = await sync_to_async(_followable)(user, turn_key)
    return _event_stream(turn_followers.follow(turn_key, user, current, after))


@app_access_required
@require_POST
async def stop(request: SignedInRequest, pk: int, message_id: int) -> HttpResponse:
    """Ask the stream answering this message to stop, whichever worker runs it."""
    user = await request.auser()
    if not await chat.request_stop(user, pk, message_id):
        raise Http404("No such message.")
    return HttpResponse(status=204)


# Decisions on waiting tool calls, and resuming the turn ---------------------------------------


DECISIONS = ("approve", "deny", "answer", "dismiss")


@app_access_required
@require_POST
def tool_decision(request: SignedInRequest, pk: int, decision: str) -> HttpResponse:
    """Approve, deny, answer or dismiss a call waiting for the user. When nothing else waits,
    the page resumes the turn (a stream from the resume URL)."""
    if decision not in DECISIONS:
        raise Http404("No such decision.")
    call = get_object_or_404(
        ToolCall.objects.select_related("message__conversation__user"),
        pk=pk,
        message__conversation__user=request.user,
    )
    if not tool_calls.takes_decision(call, decision):
        return HttpResponse(
            "This tool call does not take that decision.", status=409, content_type="text/plain"
        )
    message = call.message
    if decision == "answer":
        errors = tool_calls.answer(call, request.user, request.POST)
        if errors:
            if not request.htmx:
                return redirect("assistant:conversation", pk=message.conversation_id)
            question = display.question_view(call, form=request.POST, errors=errors)
            return render(
                request, "assistant/stream/ask_user_errors.html", {"shown": question}, status=400
            )
    elif decision == "approve":
        tool_calls.approve(call, request.user)
    elif decision == "deny":
        tool_calls.deny(call, request.user)
    else:
        tool_calls.dismiss(call, request.user)
    if not request.htmx:
        return redirect("assistant:conversation", pk=message.conversation_id)
    shown = display.decided_message_view(message, request.user, get_current())
    return render(
        request, "assistant/stream/decision.html", {"shown": shown, "ready": shown.ready_to_resume}
    )


@app_access_required
@require_POST
async def resume(request: SignedInRequest, message_id: int) -> HttpResponseBase:
    """Go on with a turn whose waiting calls are all decided: approved calls run, then the
    model answers; streams like a new message."""
    return await _stream_turn(request, lambda user: turns.resume(user, message_id))
