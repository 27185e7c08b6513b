"""Provider faults × every provider: 401, 429, 500, a stream that goes silent and a dropped
connection, from OpenAI, Anthropic, Google and an OpenAI-compatible server (the real SDKs
against the fakes). Each ends the chat stream with a readable message and a Retry button, is
stored on the message with its kind, and the next message in the conversation works."""

from __future__ import annotations

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from assistant.models import Conversation, Message, UsageRecord
from tests.fakes.script import HttpError, Reply
from tests.support.chat import add_local_provider, configure
from tests.support.leaks import sse_text

pytestmark = [
    # The chat stores a finished answer from a worker thread: it must see committed rows.
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume"),
]

PROVIDERS = ["openai", "anthropic", "google", "compatible"]
LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "compatible": "Local LLM",
}

# fault → (what the fake answers, error kind, the readable message, requests the SDK makes)
FAULTS = {
    "401": ((HttpError(401, "Invalid API key."),), "auth",
            "{label} rejected the API key — an administrator can update it in Settings → AI.", 1),
    # A rate limit is told to the user at once, never retried or sat out by the SDK.
    "429": ((HttpError(429, "Slow down.", retry_after="5"),), "rate_limit",
            "Rate limited by {label}; try again in 5 s.", 1),
    # The SDKs retry a 500 twice before the first token, never more.
    "500": ((HttpError(500, "Internal error."),) * 3, "unavailable",
            "{label} is unavailable right now; try again in a moment.", 3),
    "timeout": ((Reply(text="The start of an answer", chunk_size=4, stall_after=1, stall=5),),
                "timeout", "The model stopped responding.", 1),
    "dropped": ((Reply(text="Half an answer that never ends", chunk_size=4, drop_after=2),),
                "cut_off", "The connection to {label} was cut off mid-answer; try again.", 1),
}  # fmt: skip


@pytest.fixture
def fakes(fake_openai, fake_anthropic, fake_gemini):
    return {
        "openai": fake_openai,
        "anthropic": fake_anthropic,
        "google": fake_gemini,
        "compatible": fake_openai,
    }


def _model_for(provider: str, fakes, settings) -> str:
    if provider == "compatible":
        configure(rate_limit_per_minute=1000)
        return add_local_provider(fakes["compatible"])
    current = configure(
        settings=settings, fakes={provider: fakes[provider]}, rate_limit_per_minute=1000
    )
    [model] = [m for m in current.models if m.provider_key == provider]
    return model.key


def _send(client: Client, **data) -> str:
    response = client.post(reverse("assistant:send"), data)
    assert response.status_code == 200, response.content[:500]
    return unescape(sse_text(b"".join(response)))


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_fault_is_readable_stored_and_the_next_message_works(
    client, app_user, fakes, settings, provider, fault
):
    # Long enough for the response to start on a loaded machine (a timeout before it would be
    # retried by the SDK, as a real one is), short against the fake's 5 s stall mid-answer.
    settings.PROVIDER_IDLE_TIMEOUT = 1.5
    scripted, kind, readable, requests = FAULTS[fault]
    readable = readable.format(label=LABELS[provider])
    model = _model_for(provider, fakes, settings)
    fake = fakes[provider]
    fake.script(*scripted)
    client.force_login(app_user)

    stream = _send(client, message="What is on my list?", model=model)

    answer = Message.objects.filter(role="assistant").get()
    assert (answer.status, answer.error_kind) == ("error", kind)
    assert answer.error_message == readable
    assert readable in stream
    assert ">Retry</button>" in stream
    assert "Traceback" not in stream and "Exception" not in stream
    assert len(fake.generation_requests()) == requests
    assert UsageRecord.objects.filter(outcome=kind).count() == 1
    if fault in ("timeout", "dropped"):
        assert answer.content and scripted[0].text.startswith(answer.content)  # partial kept

    fake.script(Reply(text="Here is your list."))
    conversation = Conversation.objects.get()
    stream = _send(client, message="Try again", model=model, conversation=conversation.pk)
    last = Message.objects.filter(role="assistant").latest("id")
    assert (last.status, last.content, last.error_kind) == ("complete", "Here is your list.", "")
    assert "Here is your list." in stream
    assert conversation.messages.count() == 4
