"""Readable chat errors, per kind and provider. Built only from our own words, the provider
label, the model name and a number: never a key, never a stack trace."""

from __future__ import annotations

import math

from assistant.providers.events import ProviderError

# Kinds raised by the chat loop itself (the adapters' kinds are in events.ErrorKind).
NO_RESPONSE = "no_response"
TOO_MANY_STEPS = "too_many_steps"
INTERNAL = "internal"
UNSAVED = "unsaved"


def describe(error: ProviderError, *, provider: str, model: str) -> str:
    kind = error.kind
    if kind == "auth":
        return f"{provider} rejected the API key — an administrator can update it in Settings → AI."
    if kind == "rate_limit":
        if error.retry_after:
            return f"Rate limited by {provider}; try again in {math.ceil(error.retry_after)} s."
        return f"Rate limited by {provider}; try again in a moment."
    if kind == "not_found":
        return (
            f"{provider} does not offer the model “{model}” — an administrator can check the "
            "allowed models in Settings → AI."
        )
    if kind == "bad_request":
        detail = f": {error.message}" if error.message else "."
        return f"{provider} refused the request{detail}"
    if kind == "unavailable":
        return f"{provider} is unavailable right now; try again in a moment."
    if kind == "timeout":
        return "The model stopped responding."
    if kind == "connection":
        return f"Could not reach {provider}; check the connection and try again."
    if kind == UNSAVED:
        return (
            "The answer could not be saved: the database is not answering. Try again in a moment."
        )
    if kind == NO_RESPONSE:
        return "The model ended its answer without saying anything. Try again."
    return "Something went wrong while answering. Try again."
