"""The one redactor: no provider secret, whole or in part, in text we show, store or log.

A server or a gateway may echo back the key or a header it was sent, whole or cut (the key
without its last characters, a slice of its middle), and the SDKs log what servers answer
(google-genai logs every retried error, body included, at INFO; the HTTP clients log requests
at DEBUG). `redact` replaces every run of MIN_RUN or more consecutive characters of a secret
with [redacted], then anything shaped like a provider key. The secrets are those passed in
plus every one remembered here: the connection of every adapter built (`remember`) and every
connection of the settings in force (`remember_settings`).

Every log record made in this process goes through it as it is created: it is installed as
the log record factory when the app is ready, so every handler (console, files, error
trackers) gets clean records.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_settings.current import CurrentSettings, ProviderConnection

REDACTED = "[redacted]"
# The shortest echo that counts as a leak, and the shortest value treated as a secret
# (shorter values, like "ollama", are placeholders, not credentials).
MIN_RUN = 8
# Secrets that can reach an SDK's text even when they are not ours: query-string keys,
# bearer tokens and the common key shapes of the three providers. Each pattern runs only on
# text holding its needle (looked for in the lower-cased text), which costs far less.
_SECRET_PATTERNS = (
    ("key=", re.compile(r"(?i)([?&](?:key|api_key|api-key)=)[^&\s'\"]+")),
    ("bearer", re.compile(r"(?i)(bearer\s+)[^\s'\"]+")),
    (
        "api-key",
        re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api-key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    ),
    ("sk-", re.compile(r"()\b(?:sk|sk-ant|sk-proj)-[A-Za-z0-9_\-]{8,}")),
    ("aiza", re.compile(r"()\bAIza[0-9A-Za-z_\-]{20,}")),
)

_remembered: frozenset[str] = frozenset()
_settings_seen: set[tuple[Any, ...]] = set()
_lock = threading.Lock()
_installed = False


@dataclass(frozen=True)
class _Index:
    windows: frozenset[str]  # every MIN_RUN-character slice of every secret
    quarters: frozenset[str]  # every QUARTER-character slice: the cheap first look


# A run of MIN_RUN characters always holds a QUARTER-character slice that starts at a
# multiple of QUARTER, so the scan looks at one position in QUARTER and checks the windows
# around a hit: a quarter of the lookups on text with no secret in it (most log records).
QUARTER = MIN_RUN // 2


def _slices(secrets: frozenset[str], size: int) -> frozenset[str]:
    return frozenset(
        secret[start : start + size]
        for secret in secrets
        for start in range(len(secret) - size + 1)
    )


@functools.lru_cache(maxsize=128)
def _index(secrets: frozenset[str]) -> _Index:
    return _Index(_slices(secrets, MIN_RUN), _slices(secrets, QUARTER))


_QUARTERS = re.compile(f".{{{QUARTER}}}", re.DOTALL)  # the aligned slices, cut in C


def _matching_windows(text: str, index: _Index) -> list[int]:
    """Start of every MIN_RUN-character slice of `text` that is a slice of a secret."""
    quarters = _QUARTERS.findall(text)
    if index.quarters.isdisjoint(quarters):
        return []
    last = len(text) - MIN_RUN
    starts: list[int] = []
    for number, quarter in enumerate(quarters):
        if quarter not in index.quarters:
            continue
        at = number * QUARTER
        first = max(at - QUARTER, starts[-1] + 1 if starts else 0)
        starts.extend(
            start
            for start in range(first, min(at, last) + 1)
            if text[start : start + MIN_RUN] in index.windows
        )
    return starts


def _redact_runs(text: str, index: _Index) -> str:
    """`text` with every stretch covered by windows of a secret replaced by REDACTED.

    Consecutive or overlapping matching windows make one stretch, so an echo is replaced
    whole however long it is."""
    starts = _matching_windows(text, index)
    if not starts:
        return text
    parts: list[str] = []
    copied = 0  # text[:copied] is in parts already
    run_start = run_end = -1
    for start in starts:
        if start > run_end:
            if run_end >= 0:
                parts += (text[copied:run_start], REDACTED)
                copied = run_end
            run_start = start
        run_end = start + MIN_RUN
    parts += (text[copied:run_start], REDACTED, text[run_end:])
    return "".join(parts)


def redact(text: str, secrets: Iterable[object] = ()) -> str:
    """`text` without any run of MIN_RUN characters of `secrets` (those that are text) or of
    a remembered secret, nor anything shaped like a key."""
    known = _remembered
    extra = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_RUN} - known
    if (known or extra) and len(text) >= MIN_RUN:
        text = _redact_runs(text, _index(known | extra if extra else known))
    lowered = text.lower()
    for needle, pattern in _SECRET_PATTERNS:
        if needle in lowered:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def secrets_of(connection: ProviderConnection) -> tuple[str, ...]:
    """The key and header values of a connection."""
    return tuple(v for v in (connection.api_key, *connection.headers.values()) if v)


def _learn(values: Iterable[object]) -> None:
    """Remember the values that are text of MIN_RUN characters or more."""
    global _remembered
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_RUN}
    with _lock:
        if not new <= _remembered:
            _remembered = _remembered | new


def remember(connection: ProviderConnection) -> None:
    """Redact this connection's key and header values everywhere from now on."""
    _learn(secrets_of(connection))


def remember_settings(current: CurrentSettings) -> None:
    """Remember every connection of a settings snapshot (once per saved state)."""
    stamp = (current.version, current.saved_at)
    if stamp in _settings_seen:
        return
    for connection in current.connections.values():
        remember(connection)
    with _lock:
        _settings_seen.add(stamp)


def forget() -> None:
    """Forget every remembered secret (tests that check what is remembered start clean)."""
    global _remembered
    with _lock:
        _remembered = frozenset()
        _settings_seen.clear()


def scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return  # a malformed call: logging reports it when the record is formatted
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        clean = redact(text)
        if clean != text:
            record.exc_text = clean  # formatters use exc_text when it is set


def install() -> None:
    """Wrap the log record factory once (AssistantConfig.ready)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        scrub_record(record)
        return record

    logging.setLogRecordFactory(scrubbed_record)
