"""Starting, retrying and resuming a chat turn: everything before the answer streams.

Each of `start`, `retry` and `resume` is synchronous and does all of it in one call, which the
views make in one trip to the database thread (time to first token): it finds what the
request names (another user's conversation or message is a 404), checks the model is one the
user may pick now, looks up the user's tools, stores the turn's messages and admits the turn
(rate limit, budget reservation estimated from the request it will send) in the same
transaction. Whatever does not start raises TurnRefused, the one refusal type, and leaves
nothing stored or changed. The Turn returned is run by assistant.chat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from ai_settings.catalog import AvailableModel
from ai_settings.conf import app_settings
from ai_settings.current import CurrentSettings, get_current
from assistant import history, usage
from assistant.attachments import AttachmentRefused, CheckedFile, check_files
from assistant.chat_request import load_history
from assistant.forms import MODEL_NOT_AVAILABLE, MessageForm
from assistant.heartbeat import interrupt_abandoned, is_abandoned, stale_before
from assistant.models import Attachment, Conversation, Message
from assistant.models import ToolCall as ToolCallRow
from assistant.page_context import page_context
from assistant.providers.base import ChatMessage, ToolSpec
from assistant.tool_calls import RegistryTurnTools, TurnTools
from assistant.turn_types import Turn, new_reply, new_turn_key
from prompts.queries import render_published
from prompts.request_numbers import object_id
from prompts.users import User

PROMPT_VALUE_PREFIX = "prompt_var-"
TITLE_LENGTH = 60
WAITING = (Message.Status.AWAITING_APPROVAL, Message.Status.AWAITING_ANSWER)
STILL_WRITING = "An answer is still being written in this conversation. Wait for it, or stop it."
NOT_DECIDED_RESULT = json.dumps(
    {
        "error": "The user sent a new message instead of answering this call; it was not run.",
        "kind": "not_decided",
    }
)


class TurnRefused(Exception):
    """A turn that does not start: `message` is shown above the message box, with `status`
    and `headers` (Retry-After). When the model was the problem, `models` (the ones the user
    may pick now) and `conversation` give the picker to show again."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
        models: Sequence[AvailableModel] | None = None,
        conversation: Conversation | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = dict(headers or {})
        self.models = models
        self.conversation = conversation


# Starting, retrying and resuming -----------------------------------------------------------


def start(
    user: User,
    data: Mapping[str, Any],
    files: MultiValueDict,
    conversation_id: int | None,
    started: float,
) -> Turn | None:
    """A new message's turn: the composer's form (`data`, `files`) posted to the conversation
    `conversation_id` (or the one the form names; a new one when neither does). None for a
    blank message, which is ignored. Stores the user's message (with its files, after a chosen
    prompt's messages) and an empty answer."""
    conversation = _own_conversation(user, conversation_id or data.get("conversation") or None)
    current = get_current()
    models = usage.models_for_user(user, current)
    form = MessageForm(data, files, models=models)
    if form.is_blank():
        return None
    if not form.is_valid():
        # An ErrorList's item reads as its message (django-stubs types it as the error stored).
        first_error = str(next(iter(form.errors.values()))[0])
        if "model" in form.errors:
            raise TurnRefused(first_error, models=models, conversation=conversation)
        raise TurnRefused(first_error)
    model = form.cleaned_data["model"]
    text = form.cleaned_data["message"]
    try:
        checked = check_files(
            files.getlist("attachments"),
            model_supports_attachments=model.supports_attachments,
            model_name=model.display_name,
        )
    except AttachmentRefused as refused:
        raise TurnRefused(str(refused)) from refused
    extra_instructions, prompt_messages = _chosen_prompt(data, current, form.cleaned_data["prompt"])
    if not text and prompt_messages and prompt_messages[-1][0] == "user":
        text = prompt_messages.pop()[1]
    tools, specs = _tools_for(user, current)
    with transaction.atomic():
        stored, added, reply, attachments = _store_messages(
            user=user,
            conversation=conversation,
            model=model,
            text=text,
            files=checked,
            page_context=page_context(
                form.cleaned_data["page_url"], attach_object=form.cleaned_data["attach_page"]
            ),
            extra_instructions=extra_instructions,
            prompt_messages=prompt_messages,
        )
        loaded = load_history(
            user=user,
            current=current,
            conversation_id=stored.pk,
            before=added[0].pk,
            new=added,
            new_files=attachments,
        )
        admission = _admit(user, current, model, loaded, specs)
    return Turn(
        user=user,
        current=current,
        conversation=stored,
        model=model,
        question=added[-1],
        reply=reply,
        admission=admission,
        tools=tools,
        started=started,
        created_conversation=conversation is None,
        added=added,
        attachments=tuple(attachments),
        preloaded_history=loaded,
    )


def retry(user: User, message_id: str | None, model_key: str | None) -> Turn:
    """Answer the question of a failed (or stopped, or interrupted) last answer again, with
    `model_key` (else the conversation's model): the old answer is replaced by a new one,
    admitted like a new message."""
    failed = (
        Message.objects.filter(
            pk=object_id(message_id), conversation__user=user, role=Message.Role.ASSISTANT
        )
        .select_related("conversation")
        .first()
    )
    if failed is None:
        raise Http404("No such message.")
    conversation = failed.conversation
    last = conversation.messages.order_by("-created_at", "-id").first()
    if last is None or last.pk != failed.pk:
        raise TurnRefused("Only the last answer can be retried.", status=409)
    if failed.status == Message.Status.STREAMING and not is_abandoned(failed, stale_before()):
        raise TurnRefused(STILL_WRITING, status=409)
    current = get_current()
    model = _user_model(user, current, model_key or conversation.model_key, conversation)
    tools, specs = _tools_for(user, current)
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
        reply = new_reply(conversation, model, new_turn_key())
        reply.save()
        loaded = load_history(
            user=user, current=current, conversation_id=conversation.pk, before=reply.pk
        )
        admission = _admit(user, current, model, loaded, specs)
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


def resume(user: User, message_id: int) -> Turn:
    """Go on with a turn paused for the user, once every waiting call is decided. Refused
    when it is not waiting any more (resumed already, by another click or worker). Admitted
    with the estimate of the history as it stands (the calls' results come later, and the
    loop covers them before the call)."""
    paused = (
        Message.objects.filter(pk=message_id, conversation__user=user, role=Message.Role.ASSISTANT)
        .select_related("conversation")
        .first()
    )
    if paused is None:
        raise Http404("No such message.")
    if paused.tool_calls.filter(status=ToolCallRow.Status.PENDING).exists():
        raise TurnRefused("Some tool calls still wait for your decision.", status=409)
    conversation = paused.conversation
    current = get_current()
    model = _user_model(user, current, conversation.model_key, conversation)
    tools, specs = _tools_for(user, current)
    with transaction.atomic():
        claimed = Message.objects.filter(pk=paused.pk, status__in=WAITING).update(
            status=Message.Status.STREAMING, heartbeat_at=timezone.now()
        )
        if not claimed:
            raise TurnRefused("This turn has already gone on.", status=409)
        reply = new_reply(conversation, model, new_turn_key())
        reply.save()
        loaded = load_history(
            user=user,
            current=current,
            conversation_id=conversation.pk,
            before=reply.pk,
            resumed_id=paused.pk,
        )
        admission = _admit(user, current, model, loaded, specs)
    paused.status = Message.Status.STREAMING
    return Turn(
        user=user,
        current=current,
        conversation=conversation,
        model=model,
        question=paused,
        reply=reply,
        admission=admission,
        tools=tools,
        resume_from=paused,
    )


# What a turn needs -----------------------------------------------------------------------


def _own_conversation(user: User, conversation_id: int | str | None) -> Conversation | None:
    """The user's conversation the request names, None when it names none; else a 404."""
    if not conversation_id:
        return None
    if not isinstance(conversation_id, int):
        conversation_id = object_id(conversation_id)
    found = Conversation.objects.filter(pk=conversation_id, user=user).first()
    if found is None:
        raise Http404("No such conversation.")
    return found


def _user_model(
    user: User, current: CurrentSettings, model_key: str, conversation: Conversation
) -> AvailableModel:
    """The user's model by key; refused, with the picker, when it is not theirs now."""
    models = usage.models_for_user(user, current)
    model = next((m for m in models if m.key == model_key), None)
    if model is None:
        raise TurnRefused(MODEL_NOT_AVAILABLE, models=models, conversation=conversation)
    return model


def _tools_for(user: User, current: CurrentSettings) -> tuple[TurnTools, Sequence[ToolSpec]]:
    """The tools of this user's turn (the registry, with the user's modes) and the specs they
    send, looked up now."""
    tools = RegistryTurnTools(user, current)
    return tools, tools.load_specs()


def _chosen_prompt(
    data: Mapping[str, Any], current: CurrentSettings, name: str
) -> tuple[str, list[tuple[str, str]]]:
    """(extra instructions, messages) of the prompt chosen in the composer, with the values
    of its variables; none chosen, ("", []). Refused with a readable reason: no active
    collection, unknown prompt, a missing variable."""
    if not name:
        return "", []
    values = {
        key[len(PROMPT_VALUE_PREFIX) :]: value
        for key, value in data.items()
        if key.startswith(PROMPT_VALUE_PREFIX)
    }
    try:
        rendered = render_published(current.prompts_collection_id, name, values)
    except (LookupError, ValueError) as error:
        raise TurnRefused(str(error)) from error
    return rendered.system_prompt, list(rendered.messages)


def _admit(
    user: User,
    current: CurrentSettings,
    model: AvailableModel,
    loaded: tuple[list[ChatMessage], str],
    tool_specs: Sequence[ToolSpec],
) -> usage.Admission:
    """Admit the turn (rate limit, budget), reserving the estimate of its first request: the
    history trimmed as it will be sent, the system prompt and the tool specs, plus the model's
    max output. Called inside the transaction that stored the turn's messages, after loading
    them: the refusal (429, Retry-After) rolls that transaction back, so it leaves nothing."""
    messages, system_prompt = loaded
    trimmed = history.trim(messages, model=model, system_prompt=system_prompt, tools=tool_specs)
    admission = usage.admit_sync(
        user, current, model, estimated_input_tokens=trimmed.estimated_tokens
    )
    if not admission.admitted:
        raise TurnRefused(admission.message, status=admission.status, headers=admission.headers)
    _check_running_turns(user)
    return admission


def _check_running_turns(user: User) -> None:
    """At most MAX_RUNNING_TURNS answers of the user are written at once, this one included
    (one per conversation: see STILL_WRITING). Counted after the admission took the user's
    lock (usage.admit_sync), so two messages sent at once cannot both pass the count."""
    limit = max(1, int(app_settings.MAX_RUNNING_TURNS))
    running = (
        Message.objects.filter(
            conversation__user=user,
            status=Message.Status.STREAMING,
            heartbeat_at__gte=stale_before(),
        )
        .values("conversation_id")
        .distinct()
        .count()
    )
    if running > limit:
        raise TurnRefused(
            f"You already have {limit} answers being written. Wait for one to finish, or "
            "stop one, then send this again.",
            status=429,
        )


# Storing a new message -------------------------------------------------------------------


def _title_from(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"


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


def _store_messages(
    *,
    user: User,
    conversation: Conversation | None,
    model: AvailableModel,
    text: str,
    files: Sequence[CheckedFile],
    page_context: dict[str, Any] | None,
    extra_instructions: str,
    prompt_messages: Sequence[tuple[str, str]],
) -> tuple[Conversation, list[Message], Message, list[Attachment]]:
    """The conversation (created when None), the messages shown before the answer (a chosen
    prompt's, then the question), the empty answer and the question's files, stored."""
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
            if conversation.messages.filter(status=Message.Status.STREAMING).exists():
                raise TurnRefused(STILL_WRITING, status=409)  # one turn at a time
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
    reply = new_reply(conversation, model, new_turn_key())
    Message.objects.bulk_create([*added, reply])  # one INSERT, in this order
    attachments = [
        Attachment.objects.create(
            message=question,
            filename=f.filename,
            content_type=f.content_type,
            size=len(f.data),
            data=f.data,
        )
        for f in files
    ]
    return conversation, added, reply, attachments
