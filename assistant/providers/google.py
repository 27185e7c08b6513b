"""Google Gemini through the official `google-genai` SDK (Gemini API, async streaming
`generate_content_stream`, i.e. streamGenerateContent with alt=sse).

- Function calls arrive whole; Gemini's thought signature on a call is kept in the
  ToolCall's provider_data and sent back with it, as Gemini 3 requires.
- Thought parts (`thought: true`) become reasoning deltas; reasoning models are asked for
  them (`thinking_config.include_thoughts`), and the `thinking_config` provider option can
  set a budget or level.
- The base URL override goes through `http_options.base_url`.
- Timeouts: genai passes one number for every phase, so a request hook sets connect and
  read (idle) timeouts separately on each request. genai does not retry by default; we
  allow 2 retries on 408/5xx (before any token, as retries wrap only the request), never
  on 429, as for the other providers. With retries on, genai also retries a timeout or a
  connection error before the response starts, as the openai and anthropic SDKs do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import weakref
from collections.abc import AsyncGenerator
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic.alias_generators import to_snake

from ai_settings.current import ProviderConnection
from ai_settings.redaction import secrets_of
from assistant.per_loop import PerLoop
from assistant.providers import attachments as att
from assistant.providers.base import ChatMessage, ChatRequest, ProviderFailure
from assistant.providers.clients import LIST_MODELS_TIMEOUT, MAX_RETRIES, Timeouts
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
    Event,
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from assistant.providers.options import provider_options

GOOGLE_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
SIGNATURE_KEY = "gemini_thought_signature"
ID_KEY = "gemini_call_id"
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# Not 429 (genai retries it by default): a rate limit is reported to the user at once.
_RETRY_STATUSES = [408, 500, 502, 503, 504]
_UNSIGNED = base64.urlsafe_b64decode("skip_thought_signature_validator")
_RETRY_DELAY = re.compile(r"^\s*([0-9.]+)s\s*$")


def _request_timeouts(timeouts: Timeouts) -> Any:
    as_extension = httpx2.Timeout(
        connect=timeouts.connect, read=timeouts.idle, write=timeouts.idle, pool=timeouts.idle
    ).as_dict()

    async def set_timeouts(request: httpx2.Request) -> None:
        request.extensions["timeout"] = as_extension

    return set_timeouts


def _user_parts(message: ChatMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.text:
        parts.append({"text": message.text})
    for attachment in message.attachments:
        mime = attachment.content_type
        if mime not in att.IMAGE_TYPES and mime != att.PDF:
            mime = att.TEXT
        parts.append({"inline_data": {"mime_type": mime, "data": attachment.data}})
    return parts


def _model_parts(message: ChatMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.text:
        parts.append({"text": message.text})
    signed = any(call.provider_data.get(SIGNATURE_KEY) for call in message.tool_calls)
    for position, call in enumerate(message.tool_calls):
        function_call: dict[str, Any] = {"name": call.name, "args": call.arguments}
        if call.provider_data.get(ID_KEY):
            function_call["id"] = call.provider_data[ID_KEY]
        part: dict[str, Any] = {"function_call": function_call}
        signature = call.provider_data.get(SIGNATURE_KEY)
        if signature:
            part["thought_signature"] = base64.b64decode(signature)
        elif position == 0 and not signed:
            # Calls Gemini did not make (another model earlier in the conversation) carry
            # Google's documented placeholder, so Gemini 3 accepts them.
            part["thought_signature"] = _UNSIGNED
        parts.append(part)
    return parts


def gemini_contents(request: ChatRequest) -> list[dict[str, Any]]:
    """History as Gemini contents; consecutive tool results share one user content."""
    call_ids: dict[str, str] = {}  # our call id -> Gemini's own id (if it gave one)
    contents: list[dict[str, Any]] = []
    pending_results = False
    for message in request.messages:
        if message.role == "tool":
            response: dict[str, Any] = {
                "name": message.tool_name,
                "response": {"error" if message.is_error else "result": message.text},
            }
            if call_ids.get(message.tool_call_id):
                response["id"] = call_ids[message.tool_call_id]
            part = {"function_response": response}
            if pending_results:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
                pending_results = True
            continue
        pending_results = False
        if message.role == "user":
            contents.append({"role": "user", "parts": _user_parts(message)})
        else:
            for call in message.tool_calls:
                call_ids[call.id] = call.provider_data.get(ID_KEY, "")
            parts = _model_parts(message)
            if parts:
                contents.append({"role": "model", "parts": parts})
    return contents


def _retry_after(exc: genai_errors.APIError) -> float | None:
    headers = getattr(exc.response, "headers", None)
    seconds = retry_after_seconds(headers) if headers is not None else None
    if seconds is not None:
        return seconds
    details = (exc.details or {}).get("error", {}).get("details") if exc.details else None
    for detail in details or ():
        if isinstance(detail, dict) and "RetryInfo" in str(detail.get("@type", "")):
            match = _RETRY_DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def map_error(exc: BaseException, connection: ProviderConnection) -> ProviderError:
    secrets = secrets_of(connection)
    label = connection.label
    if isinstance(exc, (httpx2.TimeoutException, asyncio.TimeoutError)):
        return provider_error("timeout", label, secrets=secrets)
    if isinstance(exc, httpx2.TransportError):
        return provider_error("connection", label, transport_detail(exc), secrets=secrets)
    if isinstance(exc, genai_errors.APIError):
        status = exc.code or 0
        detail = exc.message or error_detail(exc.details)
        kind = kind_for_status(status) if status >= 400 else "unavailable"
        if status == 400 and "API_KEY_INVALID" in json.dumps(exc.details or {}, default=str):
            kind = "auth"  # Gemini reports a wrong key as 400 INVALID_ARGUMENT
        return provider_error(
            kind,
            label,
            detail or exc.status or "",
            secrets=secrets,
            retry_after=_retry_after(exc) if status == 429 else None,
            status_code=status or None,
        )
    return provider_error("unavailable", label, str(exc), secrets=secrets)


class GoogleAdapter:
    def __init__(self, connection: ProviderConnection, timeouts: Timeouts) -> None:
        self.connection = connection
        self._clients = PerLoop(lambda: self._make_client(timeouts))
        # HTTP responses opened by each streaming task. genai leaves a response open when it
        # raises mid-stream (or when the consumer stops early); stream() closes them.
        self._open: weakref.WeakKeyDictionary[asyncio.Task[Any], list[httpx2.Response]] = (
            weakref.WeakKeyDictionary()
        )

    async def _track_response(self, response: httpx2.Response) -> None:
        task = asyncio.current_task()
        if task is not None and task in self._open:
            self._open[task].append(response)

    def _make_client(self, timeouts: Timeouts) -> genai.Client:
        http_client = httpx2.AsyncClient(
            follow_redirects=True,
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
            event_hooks={
                "request": [_request_timeouts(timeouts)],
                "response": [self._track_response],
            },
        )
        return genai.Client(
            vertexai=False,
            api_key=self.connection.api_key,
            http_options=types.HttpOptions(
                base_url=self.connection.base_url or GOOGLE_DEFAULT_BASE_URL,
                headers=dict(self.connection.headers) or None,
                httpx_async_client=http_client,
                retry_options=types.HttpRetryOptions(
                    attempts=MAX_RETRIES + 1,
                    initial_delay=0.5,
                    max_delay=8.0,
                    http_status_codes=_RETRY_STATUSES,
                ),
            ),
        )

    @property
    def client(self) -> genai.Client:
        return self._clients.get()

    async def _close_responses(self, task: asyncio.Task[Any] | None) -> None:
        for response in self._open.pop(task, []) if task is not None else []:
            await response.aclose()

    async def list_models(self) -> list[str]:
        try:
            async with asyncio.timeout(LIST_MODELS_TIMEOUT):
                pager = await self.client.aio.models.list(config={"page_size": 1000})
                names = []
                async for model in pager:
                    methods = model.supported_actions or []
                    if methods and "generateContent" not in methods:
                        continue
                    names.append((model.name or "").removeprefix("models/"))
        except (genai_errors.APIError, httpx2.TransportError, TimeoutError) as exc:
            raise ProviderFailure(map_error(exc, self.connection)) from None
        return sorted(n for n in names if n)

    def build_config(self, request: ChatRequest) -> dict[str, Any]:
        config: dict[str, Any] = {"max_output_tokens": request.model.max_output}
        for key, value in provider_options(request).items():
            config[to_snake(key)] = value
        if request.model.supports_reasoning:
            thinking = dict(config.get("thinking_config") or {})
            thinking = {to_snake(k): v for k, v in thinking.items()}
            thinking.setdefault("include_thoughts", True)
            config["thinking_config"] = thinking
        if request.system_prompt:
            config["system_instruction"] = request.system_prompt
        if request.tools:
            config["tools"] = [
                {
                    "function_declarations": [
                        {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters_json_schema": tool.parameters,
                        }
                        for tool in request.tools
                    ]
                }
            ]
        config["automatic_function_calling"] = {"disable": True}
        return config

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        label = self.connection.label
        try:
            config = types.GenerateContentConfig(**self.build_config(request))
        except pydantic.ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            yield provider_error("bad_request", label, f"invalid provider options ({detail})")
            return
        usage: Usage | None = None
        finish: str | None = None
        calls_made = 0
        started = False
        task = asyncio.current_task()
        if task is not None:
            self._open[task] = []
        try:
            stream = await self.client.aio.models.generate_content_stream(
                model=request.model.model_id, contents=gemini_contents(request), config=config
            )
            async for chunk in stream:
                started = True  # the server answered: a lost connection now cuts the answer
                meta = chunk.usage_metadata
                if meta is not None:  # cumulative; the last one counts
                    thoughts = meta.thoughts_token_count or 0
                    usage = Usage(
                        input_tokens=meta.prompt_token_count or 0,
                        output_tokens=(meta.candidates_token_count or 0) + thoughts,
                        reasoning_tokens=thoughts,
                    )
                for candidate in (chunk.candidates or [])[:1]:
                    for part in (candidate.content.parts if candidate.content else None) or ():
                        if part.function_call is not None:
                            call = part.function_call
                            data: dict[str, Any] = {}
                            if part.thought_signature:
                                data[SIGNATURE_KEY] = base64.b64encode(
                                    part.thought_signature
                                ).decode("ascii")
                            if call.id:
                                data[ID_KEY] = call.id
                            calls_made += 1
                            yield ToolCall(
                                id=call.id or f"call_{calls_made}",
                                name=call.name or "",
                                arguments=dict(call.args or {}),
                                provider_data=data,
                            )
                        elif part.text:
                            yield (
                                ReasoningDelta(part.text) if part.thought else TextDelta(part.text)
                            )
                    if candidate.finish_reason is not None:
                        raw = candidate.finish_reason
                        reason = str(getattr(raw, "value", raw))
                        finish = _FINISH.get(reason, reason.lower())
        except (genai_errors.APIError, httpx2.TransportError) as exc:
            await self._close_responses(task)
            error = map_error(exc, self.connection)
            yield cut_off(error, label) if started else error
            return
        except (*UNREADABLE, genai_errors.UnknownApiResponseError, binascii.Error) as exc:
            await self._close_responses(task)
            yield unreadable(label, exc)
            return
        finally:
            await self._close_responses(task)
        if finish is None:
            yield provider_error("cut_off", label)
            return
        if usage is not None:
            yield usage
        yield Finish("tool_calls" if calls_made and finish == "stop" else finish)
