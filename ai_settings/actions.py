"""The page's secondary buttons when JavaScript is off: each one changes the submitted data and
the page is shown again, unsaved. (With JavaScript, htmx and settings.js do the same in place.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import QueryDict

from ai_settings import catalog, presets
from ai_settings.default_prompt import DEFAULT_SYSTEM_PROMPT
from ai_settings.forms import BUILTIN_KINDS, BuiltinProviderForm
from ai_settings.models import AISettings
from ai_settings.page import PROVIDERS_PREFIX
from prompts.examples import create_example_collection
from prompts.request_numbers import whole_number

if TYPE_CHECKING:
    from prompts.users import User

MODEL_ROW_DEFAULTS = {
    "context_window": catalog.CUSTOM_CONTEXT_WINDOW,
    "max_output": catalog.CUSTOM_MAX_OUTPUT,
    "provider_options": "{}",
}


class UnknownAction(ValueError):
    pass


@dataclass(frozen=True)
class Outcome:
    message: str = ""
    test_target: str = ""  # whose connection the view then tests: "openai", "providers-0"…


def _total(data: QueryDict, prefix: str) -> int:
    total = whole_number(data.get(f"{prefix}-TOTAL_FORMS", "0"))
    if total is None:
        raise UnknownAction("The form's row counts are damaged; reload the page.")
    return total


def _append_row(data: QueryDict, prefix: str, values: dict[str, Any]) -> int:
    index = _total(data, prefix)
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    data.setdefault(f"{prefix}-INITIAL_FORMS", "0")
    for name, value in values.items():
        data[f"{prefix}-{index}-{name}"] = str(value)
    return index


def _provider_prefix(data: QueryDict, argument: str) -> str:
    index = whole_number(argument, maximum=_total(data, PROVIDERS_PREFIX) - 1)
    if index is None:
        raise UnknownAction("That provider is not on the page.")
    return f"{PROVIDERS_PREFIX}-{index}"


def add_provider(data: QueryDict, slug: str) -> Outcome:
    preset = presets.preset(slug)
    index = _append_row(
        data,
        PROVIDERS_PREFIX,
        {"name": preset.name, "base_url": preset.base_url, "preset": preset.slug},
    )
    prefix = f"{PROVIDERS_PREFIX}-{index}"
    for nested in ("models", "headers"):
        data[f"{prefix}-{nested}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-{nested}-INITIAL_FORMS"] = "0"
    _append_row(data, f"{prefix}-models", MODEL_ROW_DEFAULTS)
    return Outcome(f"Added {preset.name or 'a provider'}: fill it in and save.")


def add_model(data: QueryDict, argument: str) -> Outcome:
    index, _, model_id = argument.partition(":")
    prefix = _provider_prefix(data, index)
    _append_row(data, f"{prefix}-models", {**MODEL_ROW_DEFAULTS, "model_id": model_id})
    return Outcome(f"Added model {model_id}: save to keep it." if model_id else "")


def add_header(data: QueryDict, argument: str) -> Outcome:
    _append_row(data, f"{_provider_prefix(data, argument)}-headers", {})
    return Outcome()


def allow_model(data: QueryDict, argument: str) -> Outcome:
    kind, _, model_id = argument.partition(":")
    if kind not in BUILTIN_KINDS or not model_id:
        raise UnknownAction("Unknown provider or model.")
    name = BuiltinProviderForm(kind=kind, row=AISettings.load())["allowed_models"].html_name
    if model_id not in data.getlist(name):
        data.appendlist(name, model_id)
    return Outcome(f"Allowed {model_id}: save to keep it.")


def start_from_default(data: QueryDict) -> Outcome:
    data["custom_system_prompt"] = DEFAULT_SYSTEM_PROMPT
    return Outcome("The default system prompt is in the field: edit it and save.")


def generate_collection(data: QueryDict, user: User) -> Outcome:
    collection = create_example_collection(user)
    data["prompts_collection"] = str(collection.pk)
    return Outcome(f"Created the collection “{collection}”. Save to use it.")


def apply(data: QueryDict, action: str, user: User) -> Outcome:
    """Change `data` (a mutable copy of the POST) as the button `action` asks."""
    name, _, argument = action.partition(":")
    if name == "add_provider":
        return add_provider(data, argument)
    if name == "add_model":
        return add_model(data, argument)
    if name == "add_header":
        return add_header(data, argument)
    if name == "allow":
        return allow_model(data, argument)
    if name == "start_from_default":
        return start_from_default(data)
    if name == "generate_collection":
        return generate_collection(data, user)
    if name == "test":
        return Outcome(test_target=argument)
    raise UnknownAction(f"Unknown action “{action[:40]}”.")
