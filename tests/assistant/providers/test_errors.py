"""Readable provider errors that never hold a secret."""

from __future__ import annotations

import email.utils
import time

import pytest

from ai_settings import redaction
from ai_settings.current import ProviderConnection
from ai_settings.redaction import redact
from assistant.errors import describe
from assistant.providers.errors import kind_for_status, provider_error, retry_after_seconds
from assistant.providers.events import ProviderError
from tests.fakes.harness import Provider
from tests.fakes.script import HttpError


def test_redact_removes_the_key_wherever_it_appears():
    text = "Incorrect API key provided: sk-proj-abc123XYZ789. You passed sk-proj-abc123XYZ789."

    assert "abc123XYZ789" not in redact(text, ["sk-" + "proj-abc123XYZ789"])


def test_redact_removes_key_query_parameters_and_bearer_tokens():
    text = (
        "POST https://generativelanguage.googleapis.com/v1beta/models/x?alt=sse&key=AIzaNotOurs1 "
        "failed; header Authorization: Bearer tok-9f8e7d6c5b"
    )

    cleaned = redact(text)

    assert "AIzaNotOurs1" not in cleaned and "tok-9f8e7d6c5b" not in cleaned
    assert "alt=sse" in cleaned


def test_redact_removes_key_shaped_strings_that_are_not_ours():
    cleaned = redact(
        "old key sk-ant-" + "api03-AbCdEfGhIjKlMnOp and AIza" + "SyA1234567890abcdefghijklmnop"
    )

    assert "AbCdEfGhIjKlMnOp" not in cleaned and "AIza" + "SyA1234567890" not in cleaned


def test_provider_error_message_is_readable_and_scrubbed():
    key = "sk-" + "live-123456789"
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


# -- redaction of partial echoes ----------------------------------------------------------------

KEY = "relay-" + "Echo7Qx2Vb9Nc4Hd1Kz8Wm3Rt5"  # no known key shape: only its runs can hide it
HEADER = "gw-" + "EchoToken1Ss2Dd3Ff4Gg5Hh6"


def runs_of(secret: str, length: int = 8) -> list[str]:
    return [secret[i : i + length] for i in range(len(secret) - length + 1)]


def assert_no_run_of(secret: str, text: str) -> None:
    found = [run for run in runs_of(secret) if run in text]
    assert not found, f"{found[0]!r} of the secret in {text!r}"


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(KEY[:-2], id="key-minus-last-two"),
        pytest.param(KEY[10:22], id="middle-twelve"),
        pytest.param(HEADER[2:], id="header-minus-first-two"),
        pytest.param(HEADER[:8], id="first-eight"),
        pytest.param(KEY[3:15] + KEY[20:29], id="two-runs-of-one-key"),
    ],
)
def test_redact_removes_any_run_of_eight_characters_of_a_secret(echo):
    text = f"upstream said: invalid credential {echo} (request 42)"

    cleaned = redact(text, [KEY, HEADER])

    assert_no_run_of(KEY, cleaned)
    assert_no_run_of(HEADER, cleaned)
    assert cleaned.startswith("upstream said: invalid credential ")
    assert cleaned.endswith(" (request 42)")
    assert "[redacted]" in cleaned


def test_redact_leaves_seven_characters_and_unrelated_text_alone():
    text = f"model gpt-5-mini, prefix {HEADER[:7]}, request 42"

    assert redact(text, [HEADER]) == text


def test_redact_replaces_an_echo_whole_with_one_marker():
    assert redact(f"got {KEY}{HEADER}!", [KEY, HEADER]) == "got [redacted]!"


def test_redact_knows_every_remembered_connection_without_being_told():
    redaction.forget()
    secret = "unshaped" + "-Remembered-Value-0a1b2c"
    assert redact(f"echo {secret[3:-3]}") == f"echo {secret[3:-3]}"

    redaction.remember(
        ProviderConnection("compat-9", "compatible", "Gateway", "", "http://x/v1", {"X": secret})
    )

    assert redact(f"echo {secret[3:-3]}") == "echo [redacted]"


# -- one wording per error, through the real SDKs and the fakes --------------------------------

CONTEXT_WORDS = (
    "The conversation is too long for this model's context window. "
    "Start a new conversation, or pick a model with a larger context window."
)
CONTEXT_OVERFLOWS = [
    pytest.param(
        "openai",
        HttpError(
            400,
            "Your input exceeds the context window of this model. "
            "Please adjust your input and try again.",
            code="context_length_exceeded",
        ),
        id="openai-code",
    ),
    pytest.param(
        "compatible",
        HttpError(
            400,
            "litellm.ContextWindowExceededError: litellm.BadRequestError: "
            "ContextWindowExceededError: OpenAIException - Input tokens exceed the configured "
            "limit of 272000 tokens.",
            code="400",
        ),
        id="litellm",
    ),
    pytest.param(
        "compatible",
        HttpError(
            400,
            "This model's maximum context length is 32768 tokens. However, you requested "
            "40000 tokens (36000 in the messages, 4000 in the completion).",
        ),
        id="vllm",
    ),
    pytest.param(
        "anthropic",
        HttpError(400, "prompt is too long: 208310 tokens > 200000 maximum"),
        id="anthropic",
    ),
    pytest.param(
        "google",
        HttpError(
            400,
            "The input token count (1200293) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        id="gemini",
    ),
]
FAKES = {
    "openai": "fake_openai",
    "compatible": "fake_openai",
    "anthropic": "fake_anthropic",
    "google": "fake_gemini",
}
MODELS = {
    "openai": "gpt-5-mini",
    "compatible": "qwen3:8b",
    "anthropic": "claude-haiku-4-5",
    "google": "gemini-2.5-flash",
}


def _provider(request, kind: str):
    return Provider(kind=kind, fake=request.getfixturevalue(FAKES[kind]), model_id=MODELS[kind])


@pytest.mark.parametrize(("kind", "overflow"), CONTEXT_OVERFLOWS)
async def test_a_context_window_overflow_says_so_in_plain_words(request, kind, overflow):
    provider = _provider(request, kind)
    provider.fake.script(overflow)

    events = await provider.run()

    [error] = [e for e in events if isinstance(e, ProviderError)]
    assert error.kind == "context_length"
    assert error.message == CONTEXT_WORDS
    assert describe(error, provider=provider.label, model=MODELS[kind]) == CONTEXT_WORDS


async def test_an_ordinary_bad_request_is_not_taken_for_a_context_overflow(request):
    provider = _provider(request, "anthropic")
    provider.fake.script(HttpError(400, "max_tokens: must be at most 64000"))

    [error] = [e for e in await provider.run() if isinstance(e, ProviderError)]

    assert error.kind == "bad_request"


async def test_a_refused_request_is_told_once_not_twice(request):
    provider = _provider(request, "compatible")
    provider.fake.script(HttpError(400, "Invalid model name passed in model=qwen3:8b"))

    [error] = [e for e in await provider.run() if isinstance(e, ProviderError)]
    said = describe(error, provider=provider.label, model="qwen3:8b")

    assert said == (
        "Local LLM rejected the request (HTTP 400): Invalid model name passed in model=qwen3:8b."
    )
    assert said.count("rejected") == 1 and "refused" not in said
