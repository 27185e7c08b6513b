"""Built-in OpenAI through the Responses API (why, see `assistant.providers.openai`).

Requests are stateless (`store=False`). For reasoning models the reasoning summary is
streamed (`reasoning.summary = "auto"`), and the encrypted reasoning items are attached to
the turn's first tool call (`provider_data["openai_reasoning"]`) so the next request of the
tool loop can hand them back, as OpenAI asks for reasoning models that call functions.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai

from ai_settings.current import ProviderConnection
from assistant.providers import attachments as att
from assistant.providers.base import ChatMessage, ChatRequest
from assistant.providers.clients import PerLoop, Timeouts
from assistant.providers.errors import provider_error
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
from assistant.providers.openai import list_model_ids, make_client, map_error, parse_arguments
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
            for call in message.tool_calls:
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": json.dumps(call.arguments),
                    }
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


class ResponsesAdapter:
    def __init__(self, connection: ProviderConnection, timeouts: Timeouts) -> None:
        self.connection = connection
        self._clients = PerLoop(lambda: make_client(connection, timeouts))

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self._clients.get()

    async def list_models(self) -> list[str]:
        return await list_model_ids(self.client, self.connection)

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

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        body = self.build_params(request)
        params = {"model": body.pop("model"), "input": body.pop("input"), "stream": True}
        label = self.connection.label
        reasoning_items: list[dict[str, Any]] = []
        calls_made = 0
        try:
            stream = await self.client.responses.create(**params, extra_body=body)
            async with stream:
                async for event in stream:
                    kind = event.type
                    if kind in ("response.output_text.delta", "response.refusal.delta"):
                        yield TextDelta(event.delta)
                    elif kind in (
                        "response.reasoning_summary_text.delta",
                        "response.reasoning_text.delta",
                    ):
                        yield ReasoningDelta(event.delta)
                    elif kind == "response.reasoning_summary_part.added":
                        if event.summary_index > 0:
                            yield ReasoningDelta("\n\n")
                    elif kind == "response.output_item.done":
                        item = event.item
                        if item.type == "reasoning":
                            reasoning_items.append(
                                item.model_dump(mode="json", exclude_none=True, exclude={"status"})
                            )
                        elif item.type == "function_call":
                            data = {REASONING_KEY: reasoning_items} if not calls_made else {}
                            calls_made += 1
                            yield ToolCall(
                                id=item.call_id,
                                name=item.name,
                                arguments=parse_arguments(item.arguments),
                                provider_data=data,
                            )
                    elif kind in ("response.completed", "response.incomplete"):
                        response = event.response
                        if response.usage is not None:
                            details = response.usage.output_tokens_details
                            yield Usage(
                                input_tokens=response.usage.input_tokens,
                                output_tokens=response.usage.output_tokens,
                                reasoning_tokens=details.reasoning_tokens if details else 0,
                            )
                        reason = "tool_calls" if calls_made else "stop"
                        if kind == "response.incomplete" and response.incomplete_details:
                            detail = response.incomplete_details.reason or ""
                            reason = _INCOMPLETE.get(detail, detail or "length")
                        yield Finish(reason)
                        return
                    elif kind == "response.failed":
                        error = event.response.error
                        code = error.code if error else None
                        message = error.message if error else "the response failed"
                        yield self._stream_failure(code, message)
                        return
                    elif kind == "error":
                        yield self._stream_failure(event.code, event.message)
                        return
        except openai.OpenAIError as exc:
            yield map_error(exc, self.connection)
            return
        yield provider_error("connection", label, "the stream ended before the answer did")

    def _stream_failure(self, code: str | None, message: str) -> ProviderError:
        return provider_error(
            _failure_kind(code),
            self.connection.label,
            message,
            secrets=(self.connection.api_key,),
        )
