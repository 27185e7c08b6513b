"""Turning provider faults into readable ProviderErrors that never hold a secret."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.providers.events import ErrorKind, ProviderError

import pydantic

REDACTED = "[redacted]"
# What SDKs raise when a server answers with something that is not the documented format.
UNREADABLE = (json.JSONDecodeError, pydantic.ValidationError)
_MAX_DETAIL = 300
# Secrets that can reach an SDK's text even when they are not our key: query-string keys,
# bearer tokens and the common key shapes of the three providers.
_SECRET_PATTERNS = (
    re.compile(r"(?i)([?&](?:key|api_key|api-key)=)[^&\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[^\s'\"]+"),
    re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api-key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"()\b(?:sk|sk-ant|sk-proj)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_\-]{20,}"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without any of `secrets` or anything shaped like a key."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


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


_SUMMARIES: dict[ErrorKind, str] = {
    "auth": "{label} rejected the API key or its permissions",
    "rate_limit": "{label} rate limit reached",
    "bad_request": "{label} rejected the request",
    "not_found": "{label} does not know this model or endpoint",
    "unavailable": "{label} is unavailable right now",
    "timeout": "{label} did not answer in time",
    "connection": "The connection to {label} failed",
}


def provider_error(
    kind: ErrorKind,
    label: str,
    detail: str = "",
    *,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
    status_code: int | None = None,
) -> ProviderError:
    message = _SUMMARIES[kind].format(label=label)
    if status_code is not None:
        message += f" (HTTP {status_code})"
    detail = " ".join(scrub(detail, secrets).split())
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
        message=scrub(message, secrets),
        retry_after=retry_after,
        status_code=status_code,
    )


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
    import httpx2

    cause = exc if isinstance(exc, httpx2.TransportError) else exc.__cause__
    if isinstance(cause, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return "the connection was cut off before the answer was complete"
    if isinstance(cause, httpx2.ConnectError):
        return "could not connect to the server"
    return str(cause or "") if cause is not None else ""


def unreadable(label: str, exc: BaseException) -> ProviderError:
    """The server answered, but not in its documented format."""
    detail = type(exc).__name__
    return provider_error("unavailable", label, f"the answer could not be read ({detail})")
