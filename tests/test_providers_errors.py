"""Readable provider errors that never hold a secret."""

from __future__ import annotations

import email.utils
import time

import pytest

from assistant.providers.errors import kind_for_status, provider_error, retry_after_seconds
from assistant.providers.redaction import redact


def test_redact_removes_the_key_wherever_it_appears():
    text = "Incorrect API key provided: sk-proj-abc123XYZ789. You passed sk-proj-abc123XYZ789."

    assert "abc123XYZ789" not in redact(text, ["sk-" "proj-abc123XYZ789"])


def test_redact_removes_key_query_parameters_and_bearer_tokens():
    text = (
        "POST https://generativelanguage.googleapis.com/v1beta/models/x?alt=sse&key=AIzaNotOurs1 "
        "failed; header Authorization: Bearer tok-9f8e7d6c5b"
    )

    cleaned = redact(text)

    assert "AIzaNotOurs1" not in cleaned and "tok-9f8e7d6c5b" not in cleaned
    assert "alt=sse" in cleaned


def test_redact_removes_key_shaped_strings_that_are_not_ours():
    cleaned = redact("old key sk-ant-" "api03-AbCdEfGhIjKlMnOp and AIza" "SyA1234567890abcdefghijklmnop")

    assert "AbCdEfGhIjKlMnOp" not in cleaned and "AIzaSyA1234567890" not in cleaned


def test_provider_error_message_is_readable_and_scrubbed():
    key = "sk-" "live-123456789"
    detail = f"Incorrect API key provided: {key}"

    error = provider_error("auth", "OpenAI", detail, secrets=[key], status_code=401)

    assert error.message == (
        "OpenAI rejected the API key or its permissions (HTTP 401): "
        "Incorrect API key provided: [redacted]."
    )


def test_long_server_messages_are_shortened():
    error = provider_error("bad_request", "Mistral", "x" * 5000)

    assert len(error.message) < 400


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "auth"),
        (403, "auth"),
        (429, "rate_limit"),
        (400, "bad_request"),
        (422, "bad_request"),
        (404, "not_found"),
        (500, "unavailable"),
        (503, "unavailable"),
        (529, "unavailable"),
        (408, "timeout"),
    ],
)
def test_status_codes_map_to_error_kinds(status, kind):
    assert kind_for_status(status) == kind


def test_retry_after_reads_seconds_milliseconds_and_dates():
    assert retry_after_seconds({"retry-after": "7"}) == 7
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds({"retry-after": future}) <= 61
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_tool_arguments_encoded_twice_as_a_json_string_are_still_read():
    from assistant.providers.openai import parse_arguments

    assert parse_arguments('"{\\"action\\": \\"delete\\", \\"keys\\": [3]}"') == {
        "action": "delete",
        "keys": [3],
    }
    assert parse_arguments('"not json"') == {}
