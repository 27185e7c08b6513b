"""Readable chat errors, per kind and provider. Built only from our own words, the provider
label, the model name and the provider's redacted message (assistant.providers.errors, the one
table of provider wordings): never a key, never a stack trace."""

from __future__ import annotations

import math

from assistant.providers.errors import WORDINGS
from assistant.providers.events import ProviderError

# Kinds raised by the chat loop itself (the adapters' kinds are in events.ErrorKind).
NO_RESPONSE = "no_response"
TOO_MANY_STEPS = "too_many_steps"
INTERNAL = "internal"
UNSAVED = "unsaved"

_CHAT_LOOP_WORDINGS = {
    UNSAVED: "The answer could not be saved: the database is not answering. Try again in a moment.",
    NO_RESPONSE: "The model ended its answer without saying anything. Try again.",
}
_FALLBACK = "Something went wrong while answering. Try again."


def describe(error: ProviderError, *, provider: str, model: str) -> str:
    kind = error.kind
    wording = WORDINGS.get(kind)
    if wording is None:
        return describe_fault(kind)
    if kind == "rate_limit" and error.retry_after:
        return f"Rate limited by {provider}; try again in {math.ceil(error.retry_after)} s."
    if wording.chat:
        return wording.chat.format(label=provider, model=model)
    return error.message or wording.summary.format(label=provider) + "."


def describe_fault(kind: str) -> str:
    """A fault the chat loop finds itself (NO_RESPONSE, INTERNAL, UNSAVED), not a provider's."""
    return _CHAT_LOOP_WORDINGS.get(kind, _FALLBACK)
