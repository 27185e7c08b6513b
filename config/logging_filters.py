"""Logging filters for this project's LOGGING (config/settings.py)."""

from __future__ import annotations

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """Django logs every 4xx it answers for an exception (PermissionDenied, Http404,
    SuspiciousOperation…) with that exception's traceback; a refusal is expected, so its
    record keeps its one line and drops the traceback. 5xx records keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
