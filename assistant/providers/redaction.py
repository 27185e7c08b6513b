"""Log records never carry a provider secret.

The SDKs log what servers answer (google-genai logs every retried error, body included, at
INFO; the HTTP clients log requests at DEBUG), and a server or a gateway may echo the key or a
header it was sent. So every log record made in this process is scrubbed as it is created: the
secrets of every connection an adapter was built for, and anything shaped like a provider key
(assistant.providers.errors.scrub). It is installed as the log record factory when the app is
ready, so every handler (console, files, error trackers) gets clean records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from assistant.providers.errors import scrub

MIN_SECRET_LENGTH = 8  # shorter values ("ollama") are placeholders, not credentials

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def remember(connection: Any) -> None:
    """Redact this connection's key and header values from every log record from now on."""
    values = (connection.api_key, *connection.headers.values())
    with _lock:
        _secrets.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)


def _known() -> tuple[str, ...]:
    with _lock:
        # Longest first: a secret that contains another is replaced whole.
        return tuple(sorted(_secrets, key=len, reverse=True))


def scrub_record(record: logging.LogRecord) -> None:
    secrets = _known()
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return  # a malformed call: logging reports it when the record is formatted
    clean = scrub(message, secrets)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        clean = scrub(text, secrets)
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
