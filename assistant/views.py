"""The assistant's pages and the chat endpoints. Every view requires App access; another
user's conversation or message is a 404, never a 403.

The page, the conversation and the slide-in panel render the same partials. Sending a
message (and Retry) answers `text/event-stream` from an async view: the turn streams as
htmx partials (assistant.stream). Refusals before any provider call (bad input, a model not
allowed, files refused, rate limit or budget) answer 4xx with a partial that puts the reason
above the message box.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from ai_settings.catalog import AvailableModel
from ai_settings.current import aget_current, get_current
from assistant import chat, display, stream, tool_calls, usage
from assistant.access import app_access_required
from assistant.attachments import AttachmentRefused, check_files
from assistant.forms import MODEL_NOT_AVAILABLE, MessageForm, RenameForm
from assistant.models import Conversation, Message, ToolCall
from assistant.page_context import page_context
from assistant.providers.base import ToolSpec
from assistant.tool_calls import RegistryTurnTools, TurnTools
from prompts.queries import render_published
from prompts.request_numbers import object_id

PROMPT_VALUE_PREFIX = "prompt_var-"


# Pages and partials (sync) -----------------------------------------------------------------


def _current_page(request: HttpRequest) -> str:
    """The page the panel was opened on (htmx sends it), or this request's path."""
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.current_url_abs_path:
        return htmx.current_url_abs_path
    return request.get_full_path()


def _render_chat(
    request: HttpRequest,
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


def _own_conversation(request: HttpRequest, pk: int) -> Conversation:
    return get_object_or_404(Conversation, pk=pk, user=request.user)


@app_access_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The full page with a new, empty chat."""
    return _render_chat(request, None, in_panel=False, template="assistant/index.html")


@app_access_required
@require_GET
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_chat(
        request, _own_conversation(request, pk), in_panel=False, template="assistant/index.html"
    )


@app_access_required
@require_GET
def panel(request: HttpRequest) -> HttpResponse:
    """The slide-in panel's chat: ?conversation=<pk>, else the most recent one."""
    chosen = request.GET.get("conversation", "")
    if chosen:
        found: Conversation | None = _own_conversation(request, object_id(chosen))
    elif request.GET.get("new"):
        found = None
    else:
        found = Conversation.objects.filter(user=request.user).first()
    return _render_chat(request, found, in_panel=True)


def _after_change(request: HttpRequest, conversation: Conversation | None) -> HttpResponse:
    """htmx (the panel): the chat partial; a plain form (the full page): a redirect."""
    if request.htmx:
        return _render_chat(request, conversation, in_panel=True)
    if conversation is None:
        return redirect("assistant:index")
    return redirect("assistant:conversation", pk=conversation.pk)


@app_access_required
@require_POST
def new_conversation(request: HttpRequest) -> HttpResponse:
    """Start a conversation; an empty one the user already has is reused."""
    empty = Conversation.objects.filter(user=request.user, messages__isnull=True).first()
    created = empty or Conversation.objects.create(user=request.user)
    return _after_change(request, created)


@app_access_required
@require_POST
def rename_conversation(request: HttpRequest, pk: int) -> HttpResponse:
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
def delete_conversation(request: HttpRequest, pk: int) -> HttpResponse:
    _own_conversation(request, pk).delete()
    return _after_change(request, Conversation.objects.filter(user=request.user).first())


# Sending, retrying and stopping (async) ------------------------------------------------------


def _refusal(
    message: str,
    *,
    status: int,
    picker: display.ModelPicker | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body = render_to_string("assistant/stream/refusal.html", {"refusal": message, "picker": picker})
    response = HttpResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _event_stream(body: Any) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must pass each event on at once
    return response


def _tools_for(user: Any, current: Any) -> tuple[TurnTools, Sequence[ToolSpec]]:
    """The tools of this user's turn (the registry, with the user's modes) and the specs they
    send, looked up now."""
    tools = RegistryTurnTools(user, current)
    return tools, tools.load_specs()


def _render_prompt(request: HttpRequest, current: Any, name: str):
    """(extra instructions, messages) of a chosen prompt, or raise LookupError/ValueError
    with a readable message (no active collection, unknown prompt, missing variable)."""
    values = {
        key[len(PROMPT_VALUE_PREFIX) :]: value
        for key, value in request.POST.items()
        if key.startswith(PROMPT_VALUE_PREFIX)
    }
    rendered = render_published(current.prompts_collection_id, name, values)
    return rendered.system_prompt, list(rendered.messages)


def _refused(refused: usage.Refused) -> HttpResponse:
    """The rate limit's or the budget's refusal (429, with Retry-After)."""
    admission = refused.admission
    return _refusal(admission.message, status=admission.status, headers=admission.headers)


def _user_model(
    user: Any, current: Any, model_key: str, conversation: Conversation
) -> AvailableModel | HttpResponse:
    """The user's model by key; or the refusal with the picker when it is not theirs now."""
    models = usage.models_for_user(user, current)
    model = next((m for m in models if m.key == model_key), None)
    if model is None:
        return _refusal(
            MODEL_NOT_AVAILABLE,
            status=400,
            picker=display.model_picker(models, conversation),
        )
    return model


def _begin_retry(
    user: Any, current: Any, model_key: str, failed: Message
) -> chat.Turn | HttpResponse:
    """The retry's turn (model, tools, admission with its own request's estimate), or the
    refusal. Synchronous: one thread trip for all of it."""
    model = _user_model(user, current, model_key, failed.conversation)
    if isinstance(model, HttpResponse):
        return model
    tools, specs = _tools_for(user, current)
    try:
        return chat.retry_turn(
            user=user,
            current=current,
            conversation=failed.conversation,
            failed=failed,
            model=model,
            tools=tools,
            tool_specs=specs,
        )
    except usage.Refused as refused:
        return _refused(refused)


def _begin_resume(user: Any, current: Any, paused: Message) -> chat.Turn | None | HttpResponse:
    """The resumed turn (None when it has already gone on), or the refusal. Synchronous: one
    thread trip for all of it."""
    conversation = paused.conversation
    model = _user_model(user, current, conversation.model_key, conversation)
    if isinstance(model, HttpResponse):
        return model
    tools, specs = _tools_for(user, current)
    try:
        return chat.begin_resume(
            user=user, current=current, paused=paused, model=model, tools=tools, tool_specs=specs
        )
    except usage.Refused as refused:
        return _refused(refused)


def _is_blank(request: HttpRequest) -> bool:
    return (
        not request.POST.get("message", "").strip()
        and not request.POST.get("prompt")
        and not request.FILES.getlist("attachments")
    )


async def send(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """POST a message; the answer streams back as text/event-stream. (The access check and
    the method check are _begin_send's, in that order, as on every chat view.)"""
    begun = await sync_to_async(_begin_send)(request, pk, time.monotonic())
    if isinstance(begun, HttpResponse):
        return begun
    turn, page = begun
    return _event_stream(stream.turn_events(turn, page))


@app_access_required
@require_POST
def _begin_send(
    request: HttpRequest, pk: int | None, started: float
) -> HttpResponse | tuple[chat.Turn, dict[str, Any]]:
    """Everything before the answer streams, in one trip to the database thread (time to
    first token): the access check, the conversation, the form, the tools, and the stored
    messages with the history the first provider request needs, admitted with that request's
    estimate (chat.start_turn). A refusal is the response, and leaves nothing stored."""
    user = request.user
    conversation_id = pk or request.POST.get("conversation") or None
    found: Conversation | None = None
    if conversation_id:
        if not isinstance(conversation_id, int):
            conversation_id = object_id(conversation_id)
        found = Conversation.objects.filter(pk=conversation_id, user=user).first()
        if found is None:
            raise Http404("No such conversation.")
    if _is_blank(request):
        return HttpResponse(status=204)  # empty messages are ignored

    current = get_current()
    models = usage.models_for_user(user, current)
    form = MessageForm(request.POST, request.FILES, models=models)
    if not form.is_valid():
        picker = None
        if "model" in form.errors:
            picker = display.model_picker(models, found)
        first_error = next(iter(form.errors.values()))[0]
        return _refusal(first_error, status=400, picker=picker)
    model = form.cleaned_data["model"]
    text = form.cleaned_data["message"]

    try:
        files = check_files(
            request.FILES.getlist("attachments"),
            model_supports_attachments=model.supports_attachments,
            model_name=model.display_name,
        )
    except AttachmentRefused as refused:
        return _refusal(str(refused), status=400)

    extra_instructions, prompt_messages = "", []
    if form.cleaned_data["prompt"]:
        try:
            extra_instructions, prompt_messages = _render_prompt(
                request, current, form.cleaned_data["prompt"]
            )
        except (LookupError, ValueError) as error:
            return _refusal(str(error), status=400)
        if not text and prompt_messages and prompt_messages[-1][0] == "user":
            text = prompt_messages.pop()[1]

    tools, specs = _tools_for(user, current)
    try:
        turn = chat.start_turn(
            user=user,
            current=current,
            conversation=found,
            model=model,
            text=text,
            files=files,
            page_context=page_context(
                form.cleaned_data["page_url"], attach_object=form.cleaned_data["attach_page"]
            ),
            extra_instructions=extra_instructions,
            prompt_messages=prompt_messages,
            tools=tools,
            tool_specs=specs,
            started=started,
        )
    except usage.Refused as refused:
        return _refused(refused)
    page: dict[str, Any] = {"csrf_token": get_token(request)}
    if found is None:
        page.update(
            new_conversation=True,
            in_panel=request.POST.get("surface") == "panel",
            conversations=display.conversations_for(user),
        )
    return turn, page


@app_access_required
@require_POST
async def retry(request: HttpRequest) -> HttpResponse:
    """Answer the last question again (after an error), with the picker's model."""
    user = await request.auser()
    failed = (
        await Message.objects.filter(
            pk=object_id(request.POST.get("message")),
            conversation__user=user,
            role=Message.Role.ASSISTANT,
        )
        .select_related("conversation")
        .afirst()
    )
    if failed is None:
        raise Http404("No such message.")
    found = failed.conversation
    last = await found.messages.order_by("-created_at", "-id").afirst()
    if last is None or last.pk != failed.pk:
        return _refusal("Only the last answer can be retried.", status=409)

    current = await aget_current()
    turn = await sync_to_async(_begin_retry)(
        user, current, request.POST.get("model") or found.model_key, failed
    )
    if isinstance(turn, HttpResponse):
        return turn
    return _event_stream(stream.turn_events(turn, {"csrf_token": get_token(request)}))


@app_access_required
@require_POST
async def stop(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    """Ask the stream answering this message to stop, whichever worker runs it."""
    user = await request.auser()
    if not await chat.request_stop(user, pk, message_id):
        raise Http404("No such message.")
    return HttpResponse(status=204)


# Decisions on waiting tool calls, and resuming the turn ---------------------------------------


DECISIONS = ("approve", "deny", "answer", "dismiss")


@app_access_required
@require_POST
def tool_decision(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
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
            shown = display.question_view(call, form=request.POST, errors=errors)
            return render(
                request, "assistant/stream/ask_user_errors.html", {"shown": shown}, status=400
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
async def resume(request: HttpRequest, message_id: int) -> HttpResponse:
    """Go on with a turn whose waiting calls are all decided: approved calls run, then the
    model answers; streams like a new message."""
    user = await request.auser()
    paused = (
        await Message.objects.filter(
            pk=message_id, conversation__user=user, role=Message.Role.ASSISTANT
        )
        .select_related("conversation")
        .afirst()
    )
    if paused is None:
        raise Http404("No such message.")
    if await paused.tool_calls.filter(status=ToolCall.Status.PENDING).aexists():
        return _refusal("Some tool calls still wait for your decision.", status=409)
    current = await aget_current()
    turn = await sync_to_async(_begin_resume)(user, current, paused)
    if isinstance(turn, HttpResponse):
        return turn
    if turn is None:
        return _refusal("This turn has already gone on.", status=409)
    return _event_stream(stream.turn_events(turn, {"csrf_token": get_token(request)}))
