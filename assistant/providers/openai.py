"""OpenAI and every OpenAI-compatible server, through the official `openai` SDK.

Built-in OpenAI uses the Responses API (`openai_responses.py`): it is the only OpenAI API
that streams the reasoning summaries of GPT-5-class models (chat completions hides them), and
with `store=False` plus `include=["reasoning.encrypted_content"]` the reasoning items can be
handed back during a tool-call loop without OpenAI keeping any conversation state.

OpenAI-compatible providers (Ollama, LM Studio, vLLM, Azure's v1 API, Mistral…) always use
chat completions (`ChatCompletionsAdapter`, below): that is the API they all speak. A blank
key becomes a placeholder (the SDK insists on one; local servers ignore it), and the
provider's custom headers are sent with every request. The model's max output goes out as
`max_tokens` (what Ollama, vLLM, LM Studio and Mistral read) unless the provider options set
`max_completion_tokens` (Azure's reasoning models). Reasoning streamed by local servers as
`reasoning_content` (DeepSeek, vLLM) or `reasoning` (Ollama, OpenRouter) becomes reasoning
deltas; it is not sent back in later requests (DeepSeek rejects it).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import anyio
import httpx2
import openai

from ai_settings.current import ProviderConnection
from ai_settings.redaction import secrets_of
from assistant.per_loop import PerLoop
from assistant.providers import attachments as att
from assistant.providers import sse
from assistant.providers.base import ChatMessage, ChatRequest, ProviderFailure
from assistant.providers.clients import (
    LIST_MODELS_TIMEOUT,
    MAX_RETRIES,
    Timeouts,
    refuse_unwanted_retries,
)
from assistant.providers.errors import (
    UNREADABLE,
    cut_off,
    error_detail,
    kind_for_status,
    provider_error,
    retry_after_seconds,
    transport_detail,
    unreadable,
)
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
from assistant.providers.options import provider_options

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"
_PROTECTED = ("n",)  # one choice: we read only the first
_FINISH = {"tool_calls": "tool_calls", "function_call": "tool_calls"}


async def _chunks(response: httpx2.Response) -> AsyncGenerator[Any, None]:
    """Each chunk of a chat-completions stream as the dict json.loads makes of it, read from
    the body bytes (assistant.providers.sse), until [DONE]. What can go wrong on the way
    raises the SDK's own exceptions, as its stream would: an error in the stream as APIError,
    a read timeout as APITimeoutError, a dropped connection as APIConnectionError."""
    try:
        async for data in sse.event_data(response.aiter_bytes()):
            if data.startswith(b"[DONE]"):
                break
            chunk = json.loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise openai.APIError(
                    message
                    if isinstance(message, str) and message
                    else "An error occurred during streaming",
                    request=response.request,
                    body=error,
                )
            yield chunk
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as exc:  # as the SDK's
        raise openai.APIConnectionError(request=response.request) from exc
    finally:
        await response.aclose()


def make_client(connection: ProviderConnection, timeouts: Timeouts) -> openai.AsyncOpenAI:
    base_url = connection.base_url or (
        OPENAI_DEFAULT_BASE_URL if connection.kind == "openai" else None
    )
    timeout = httpx2.Timeout(
        connect=timeouts.connect, read=timeouts.idle, write=timeouts.idle, pool=timeouts.idle
    )
    return openai.AsyncOpenAI(
        api_key=connection.api_key or PLACEHOLDER_KEY,
        base_url=base_url,
        timeout=timeout,
        max_retries=MAX_RETRIES,
        default_headers=dict(connection.headers) or None,
        http_client=openai.DefaultAsyncHttpxClient(
            timeout=timeout, event_hooks={"response": [refuse_unwanted_retries]}
        ),
    )


def _error_code(body: object) -> str:
    """The `code` of an OpenAI error body ({"error": {"code": …}}, or the inner object)."""
    inner = body.get("error", body) if isinstance(body, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    return str(code or "")


def map_error(exc: openai.OpenAIError, connection: ProviderConnection) -> ProviderError:
    """One SDK exception as a ProviderError (every secret redacted from any text)."""
    secrets = secrets_of(connection)
    label = connection.label
    if isinstance(exc, openai.APITimeoutError):
        return provider_error("timeout", label, secrets=secrets)
    if isinstance(exc, openai.APIConnectionError):
        detail = transport_detail(exc) or exc.message
        return provider_error("connection", label, detail, secrets=secrets)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return provider_error(
            kind_for_status(status),
            label,
            error_detail(exc.body) or exc.message,
            secrets=secrets,
            retry_after=retry_after_seconds(exc.response.headers) if status == 429 else None,
            status_code=status,
            code=_error_code(exc.body),
        )
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        body = exc.body if isinstance(exc.body, dict) else {}
        marker = f"{body.get('type', '')} {body.get('code', '')}"
        kind: ErrorKind = "rate_limit" if "rate_limit" in marker else "unavailable"
        return provider_error(kind, label, exc.message, secrets=secrets, code=marker)
    return provider_error("unavailable", label, str(exc), secrets=secrets)


def _model_ids(response: httpx2.Response) -> list[str] | None:
    """The ids of a `GET /models` answer, or None when it is not the OpenAI list shape."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    ids = [
        item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]
    return ids if len(ids) == len(data) else None


def _speaks_openai(exc: openai.APIStatusError) -> bool:
    """Whether an error answer to `GET /models` came from an OpenAI-compatible API: not a 404
    (no models endpoint at this Base URL), and a JSON error in the OpenAI shape
    ({"error": …}, or vLLM's {"object": "error", …}) rather than a web page or another API's."""
    if exc.status_code == 404 or "json" not in exc.response.headers.get("content-type", ""):
        return False
    try:
        body = exc.response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and ("error" in body or body.get("object") == "error")


async def list_model_ids(client: openai.AsyncOpenAI, connection: ProviderConnection) -> list[str]:
    """The models a server lists; anything that is not an OpenAI-compatible answer is told as
    such, without a word of what answered."""
    quick = client.with_options(timeout=LIST_MODELS_TIMEOUT, max_retries=0)
    try:
        async with asyncio.timeout(LIST_MODELS_TIMEOUT):
            response = await quick.get("/models", cast_to=httpx2.Response)
    except openai.APIStatusError as exc:
        if not _speaks_openai(exc):
            raise ProviderFailure(provider_error("incompatible", connection.label)) from None
        raise ProviderFailure(map_error(exc, connection)) from None
    except openai.OpenAIError as exc:
        raise ProviderFailure(map_error(exc, connection)) from None
    except TimeoutError:
        raise ProviderFailure(provider_error("timeout", connection.label)) from None
    ids = _model_ids(response)
    if ids is None:
        raise ProviderFailure(provider_error("incompatible", connection.label))
    return sorted(ids)


def _user_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    if not message.attachments:
        return message.text
    parts: list[dict[str, Any]] = []
    if message.text:
        parts.append({"type": "text", "text": message.text})
    for attachment in message.attachments:
        if attachment.content_type in att.IMAGE_TYPES:
            parts.append({"type": "image_url", "image_url": {"url": att.data_url(attachment)}})
        elif attachment.content_type == att.PDF:
            parts.append(
                {
                    "type": "file",
                    "file": {
                        "filename": attachment.filename,
                        "file_data": att.data_url(attachment),
                    },
                }
            )
        else:
            parts.append({"type": "text", "text": att.inline_text_document(attachment)})
    return parts


def chat_messages(request: ChatRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    for message in request.messages:
        if message.role == "user":
            messages.append({"role": "user", "content": _user_content(message)})
        elif message.role == "assistant":
            if not message.text and not message.tool_calls:
                continue  # an empty assistant turn is rejected by most servers
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in message.tool_calls
                ]
            messages.append(entry)
        else:
            messages.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
            )
    return messages


def parse_arguments(raw: str) -> dict[str, Any]:
    """A tool call's JSON arguments; anything unparsable becomes an empty object.

    Models sometimes encode the arguments object twice (a JSON string holding JSON), so a
    string result is parsed once more."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
        if isinstance(value, str):
            value = json.loads(value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class OpenAIClientAdapter:
    """What both OpenAI adapters share: one SDK client per event loop, and model listing."""

    def __init__(self, connection: ProviderConnection, timeouts: Timeouts) -> None:
        self.connection = connection
        self._clients = PerLoop(lambda: make_client(connection, timeouts))

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self._clients.get()

    async def list_models(self) -> list[str]:
        return await list_model_ids(self.client, self.connection)


class ChatCompletionsAdapter(OpenAIClientAdapter):
    """Chat completions streaming: what every OpenAI-compatible server speaks."""

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        options = provider_options(request, _PROTECTED)
        body: dict[str, Any] = {}
        if "max_completion_tokens" not in options:  # Azure's reasoning models want this one
            body["max_tokens"] = request.model.max_output
        body.update(options)
        body.update(
            {
                "model": request.model.model_id,
                "messages": chat_messages(request),
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        return body

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        body = self.build_params(request)
        # Everything goes through extra_body so servers' own options (top_k, think, …) pass;
        # the protected keys were set last, so options cannot replace them.
        params = {"model": body.pop("model"), "messages": body.pop("messages"), "stream": True}
        calls: dict[int, dict[str, str]] = {}
        finish: str | None = None
        started = False  # the server answered: a lost connection now cuts the answer
        try:
            # The SDK sends the request (auth, headers, retries before the first byte, HTTP
            # errors); the body is read by _chunks, each chunk a plain dict from json.loads:
            # the SDK's typed chunks, and then its line-by-line SSE decoding, were most of a
            # worker's CPU per token under load (see bench/RESULTS.md).
            raw = await self.client.chat.completions.with_raw_response.create(
                **params, extra_body=body
            )
            started = True
            async with aclosing(_chunks(raw.http_response)) as chunks:
                async for chunk in chunks:
                    if not isinstance(chunk, dict):
                        continue
                    usage = chunk.get("usage")
                    if isinstance(usage, dict):
                        details = usage.get("completion_tokens_details")
                        yield Usage(
                            input_tokens=usage.get("prompt_tokens") or 0,
                            output_tokens=usage.get("completion_tokens") or 0,
                            reasoning_tokens=(
                                (details.get("reasoning_tokens") or 0)
                                if isinstance(details, dict)
                                else 0
                            ),
                        )
                    for choice in (chunk.get("choices") or ())[:1]:
                        delta = choice.get("delta") or {}
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                        if isinstance(reasoning, str) and reasoning:
                            yield ReasoningDelta(reasoning)
                        content = delta.get("content")
                        if isinstance(content, str) and content:
                            yield TextDelta(content)
                        refusal = delta.get("refusal")
                        if isinstance(refusal, str) and refusal:
                            yield TextDelta(refusal)
                        for piece in delta.get("tool_calls") or ():
                            index = piece.get("index")
                            if index is None:  # some servers send whole calls unindexed
                                index = len(calls)
                            call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                            if piece.get("id"):
                                call["id"] = piece["id"]
                            function = piece.get("function")
                            if isinstance(function, dict):
                                if function.get("name"):
                                    call["name"] += function["name"]
                                if function.get("arguments"):
                                    call["arguments"] += function["arguments"]
                        reason = choice.get("finish_reason")
                        if reason:
                            finish = _FINISH.get(reason, reason)
                            for index in sorted(calls):
                                call = calls[index]
                                yield ToolCall(
                                    id=call["id"] or f"call_{index}",
                                    name=call["name"],
                                    arguments=parse_arguments(call["arguments"]),
                                )
                            calls.clear()
        except openai.OpenAIError as exc:
            error = map_error(exc, self.connection)
            yield cut_off(error, self.connection.label) if started else error
            return
        except UNREADABLE as exc:
            yield unreadable(self.connection.label, exc)
            return
        if finish is None:
            yield provider_error("cut_off", self.connection.label)
            return
        yield Finish(finish)
