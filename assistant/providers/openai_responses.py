"""Built-in OpenAI through the Responses API (why, see `assistant.providers.openai`).

Requests are stateless (`store=False`). For reasoning models the reasoning summary is
streamed (`reasoning.summary = "auto"`), and the encrypted reasoning items are attached to
the turn's first tool call (`provider_data["openai_reasoning"]`) so the next request of the
tool loop can hand them back, as OpenAI asks for reasoning models that call functions.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import openai

from ai_settings.redaction import secrets_of
from assistant.providers import attachments as att
from assistant.providers.base import ChatMessage, ChatRequest
from assistant.providers.errors import UNREADABLE, cut_off, provider_error, unreadable
from assistant.providers.events import (
    ErrorKind,
    Event,
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from assistant.providers.openai import OpenAIClientAdapter, map_error, parse_arguments
from assistant.providers.options import provider_options

REASONING_KEY = "openai_reasoning"
_PROTECTED = ("background",)  # a background response would not stream here
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _user_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    if not message.attachments:
        return message.text
    parts: list[dict[str, Any]] = []
    if message.text:
        parts.append({"type": "input_text", "text": message.text})
    for attachment in message.attachments:
        if attachment.content_type in att.IMAGE_TYPES:
            parts.append(
                {"type": "input_image", "image_url": att.data_url(attachment), "detail": "auto"}
            )
        elif attachment.content_type == att.PDF:
            parts.append(
                {
                    "type": "input_file",
                    "filename": attachment.filename,
                    "file_data": att.data_url(attachment),
                }
            )
        else:
            parts.append({"type": "input_text", "text": att.inline_text_document(attachment)})
    return parts


def input_items(request: ChatRequest) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "user":
            items.append({"type": "message", "role": "user", "content": _user_content(message)})
        elif message.role == "assistant":
            for call in message.tool_calls[:1]:
                items.extend(call.provider_data.get(REASONING_KEY, ()))
            if message.text:
                items.append({"type": "message", "role": "assistant", "content": message.text})
            items.extend(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                }
                for call in message.tool_calls
            )
        else:
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.text,
                }
            )
    return items


def _failure_kind(code: str | None) -> ErrorKind:
    code = code or ""
    if "rate_limit" in code or "quota" in code:
        return "rate_limit"
    if code.startswith("invalid") or "unsupported" in code:
        return "bad_request"
    return "unavailable"


class ResponsesAdapter(OpenAIClientAdapter):
    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"max_output_tokens": request.model.max_output, "store": False}
        options = provider_options(request, _PROTECTED)
        effort = options.pop("reasoning_effort", None)  # the chat-completions spelling
        body.update(options)
        if request.model.supports_reasoning:
            reasoning = {"summary": "auto", **(body.get("reasoning") or {})}
            if effort:
                reasoning.setdefault("effort", effort)
            body["reasoning"] = reasoning
            include = list(body.get("include") or [])
            if "reasoning.encrypted_content" not in include:
                include.append("reasoning.encrypted_content")
            body["include"] = include
        body.update(
            {
                "model": request.model.model_id,
                "input": input_items(request),
                "stream": True,
            }
        )
        if request.system_prompt:
            body["instructions"] = request.system_prompt
        else:
            body.pop("instructions", None)
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                    "strict": False,
                }
                for tool in request.tools
            ]
        return body

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        body = self.build_params(request)
        params = {"model": body.pop("model"), "input": body.pop("input"), "stream": True}
        turn = _Turn(self)
        started = False  # the server answered: a lost connection now cuts the answer
        try:
            stream = await self.client.responses.create(**params, extra_body=body)
            started = True
            async with stream:
                async for event in stream:
                    for normalized in turn.feed(event):
                        yield normalized
                    if turn.ended:
                        return
        except openai.OpenAIError as exc:
            error = map_error(exc, self.connection)
            yield cut_off(error, self.connection.label) if started else error
            return
        except UNREADABLE as exc:
            yield unreadable(self.connection.label, exc)
            return
        yield provider_error("cut_off", self.connection.label)

    def _stream_failure(self, code: str | None, message: str) -> ProviderError:
        return provider_error(
            _failure_kind(code),
            self.connection.label,
            message,
            secrets=secrets_of(self.connection),
            code=code or "",
        )


class _Turn:
    """Responses stream events → normalized events, for one streamed response.

    Function calls are emitted when their item is done (or, for a stream that skips the
    item events, from the final response), each exactly once.
    """

    def __init__(self, adapter: ResponsesAdapter) -> None:
        self.adapter = adapter
        self.ended = False
        self.saw_text = False
        self.reasoning_items: list[dict[str, Any]] = []
        self.pending: dict[str, dict[str, str]] = {}  # item id -> call_id, name, arguments
        self.emitted: set[str] = set()  # call ids

    def _call(self, call_id: str, name: str, arguments: str) -> list[Event]:
        if call_id in self.emitted:
            return []
        first = not self.emitted
        self.emitted.add(call_id)
        data = {REASONING_KEY: list(self.reasoning_items)} if first and self.reasoning_items else {}
        return [ToolCall(call_id, name, parse_arguments(arguments), provider_data=data)]

    def _reasoning_item(self, item: Any) -> None:
        dumped = item.model_dump(mode="json", exclude_none=True, exclude={"status"})
        if dumped not in self.reasoning_items:
            self.reasoning_items.append(dumped)

    def feed(self, event: Any) -> list[Event]:
        kind = event.type
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self.saw_text = True
            return [TextDelta(event.delta)]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ReasoningDelta(event.delta)]
        if kind == "response.reasoning_summary_part.added" and event.summary_index > 0:
            return [ReasoningDelta("\n\n")]
        if kind == "response.output_item.added" and event.item.type == "function_call":
            item = event.item
            self.pending[item.id or item.call_id] = {
                "call_id": item.call_id,
                "name": item.name,
                "arguments": item.arguments or "",
            }
        elif kind == "response.function_call_arguments.delta":
            if event.item_id in self.pending:
                self.pending[event.item_id]["arguments"] += event.delta
        elif kind == "response.output_item.done":
            item = event.item
            if item.type == "reasoning":
                self._reasoning_item(item)
            elif item.type == "function_call":
                self.pending.pop(item.id or item.call_id, None)
                return self._call(item.call_id, item.name, item.arguments)
        elif kind in ("response.completed", "response.incomplete"):
            return self._finish(event.response, incomplete=kind == "response.incomplete")
        elif kind == "response.failed":
            self.ended = True
            error = event.response.error
            code = error.code if error else None
            return [self.adapter._stream_failure(code, error.message if error else "failed")]
        elif kind == "error":
            self.ended = True
            return [self.adapter._stream_failure(event.code, event.message)]
        return []

    def _finish(self, response: Any, *, incomplete: bool) -> list[Event]:
        self.ended = True
        events: list[Event] = []
        if not self.saw_text and response.output_text:
            events.append(TextDelta(response.output_text))
        for item in response.output or ():
            if item.type == "reasoning":
                self._reasoning_item(item)
        for call in self.pending.values():
            events.extend(self._call(call["call_id"], call["name"], call["arguments"]))
        for item in response.output or ():
            if item.type == "function_call":
                events.extend(self._call(item.call_id, item.name, item.arguments))
        if response.usage is not None:
            details = response.usage.output_tokens_details
            events.append(
                Usage(
                    input_tokens=response.usage.input_tokens,
                    output_tokens=response.usage.output_tokens,
                    reasoning_tokens=(details.reasoning_tokens or 0) if details else 0,
                )
            )
        reason = "tool_calls" if self.emitted else "stop"
        if incomplete:
            details = response.incomplete_details
            detail = (details.reason if details else "") or ""
            reason = _INCOMPLETE.get(detail, detail or "length")
        events.append(Finish(reason))
        return events
