"""Turning provider faults into readable ProviderErrors that never hold a secret: one table of
wordings, read by the chat (assistant.errors) and by Test connection."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import pydantic

from ai_settings.redaction import redact
from assistant.providers.events import ErrorKind, ProviderError

# What SDKs raise when a server answers with something that is not the documented format.
UNREADABLE = (json.JSONDecodeError, pydantic.ValidationError)
_MAX_DETAIL = 300
# How each provider says the conversation does not fit the model's context window: OpenAI's
# code and message (also vLLM's), LiteLLM's exception name, Anthropic's two messages, Gemini's.
_CONTEXT_OVERFLOW = re.compile(
    r"context_length_exceeded|maximum context length|ContextWindowExceededError"
    r"|prompt is too long|exceed context limit"
    r"|input token count.{0,40}exceeds the maximum number of tokens",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Wording:
    """How one kind of provider error reads.

    summary: what Test connection and the logs say; the provider's own (redacted) words
      follow it when `detail` is true. chat: what the person chatting reads, with {label}
      and {model}; "" means the summary and detail as they are.
    """

    summary: str
    chat: str = ""
    detail: bool = True


CONTEXT_ADVICE = "Start a new conversation, or pick a model with a larger context window."

WORDINGS: dict[ErrorKind, Wording] = {
    "auth": Wording(
        "{label} rejected the API key or its permissions",
        "{label} rejected the API key — an administrator can update it in Settings → AI.",
    ),
    "rate_limit": Wording(
        "{label} rate limit reached", "Rate limited by {label}; try again in a moment."
    ),
    "bad_request": Wording("{label} rejected the request"),
    "context_length": Wording(
        f"The conversation is too long for this model's context window. {CONTEXT_ADVICE}",
        detail=False,
    ),
    "not_found": Wording(
        "{label} does not know this model or endpoint",
        "{label} does not offer the model “{model}” — an administrator can check the "
        "allowed models in Settings → AI.",
    ),
    "unavailable": Wording(
        "{label} is unavailable right now",
        "{label} is unavailable right now; try again in a moment.",
    ),
    "timeout": Wording("{label} did not answer in time", "The model stopped responding."),
    "connection": Wording(
        "Could not reach {label}", "Could not reach {label}; check the connection and try again."
    ),
    "cut_off": Wording("The connection to {label} was cut off mid-answer; try again", detail=False),
    "incompatible": Wording(
        "The server at this Base URL answered, but this does not look like an "
        "OpenAI-compatible API. Check the Base URL (it usually ends in /v1)",
        detail=False,
    ),
}


def kind_for_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limit"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "unavailable"
    return "bad_request"


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or retry-after-ms."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def provider_error(
    kind: ErrorKind,
    label: str,
    detail: str = "",
    *,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
    status_code: int | None = None,
    code: str = "",
) -> ProviderError:
    """The ProviderError for a fault, worded from WORDINGS. `detail` is the provider's own
    text and `code` its error code; every secret is redacted from them."""
    if kind in ("bad_request", "unavailable") and _CONTEXT_OVERFLOW.search(f"{code} {detail}"):
        kind = "context_length"
    wording = WORDINGS[kind]
    message = wording.summary.format(label=label)
    if wording.detail:
        if status_code is not None:
            message += f" (HTTP {status_code})"
        detail = " ".join(redact(detail, secrets).split())
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 1] + "…"
        if detail:
            message += f": {detail}"
    if not message.endswith((".", "!", "?", "…")):
        message += "."
    if kind == "rate_limit" and retry_after is not None:
        message += f" Try again in {max(1, round(retry_after))} s."
    return ProviderError(
        kind=kind,
        message=redact(message, secrets),
        retry_after=retry_after,
        status_code=status_code,
    )


def cut_off(error: ProviderError, label: str) -> ProviderError:
    """`error` as it reads once the answer had begun: a lost connection cut it mid-answer."""
    return provider_error("cut_off", label) if error.kind == "connection" else error


def error_detail(body: Any) -> str:
    """The human part of a provider's JSON error body (OpenAI, Anthropic and Google shapes)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message")
            if isinstance(message, str):
                return message
        elif isinstance(inner, str):
            return inner
        message = body.get("message")
        if isinstance(message, str):
            return message
    if isinstance(body, str):
        return body
    return ""


def transport_detail(exc: BaseException) -> str:
    """A readable cause for a failed connection (the exception or the one it wraps)."""
    cause = exc if isinstance(exc, httpx2.TransportError) else exc.__cause__
    if isinstance(cause, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return "the server closed the connection"
    if isinstance(cause, httpx2.ConnectError):
        return "could not connect to the server"
    return str(cause) if cause is not None else ""


def unreadable(label: str, exc: BaseException) -> ProviderError:
    """The server answered, but not in its documented format."""
    detail = type(exc).__name__
    return provider_error("unavailable", label, f"the answer could not be read ({detail})")
