"""The built-in model catalog and the rules that decide which models are available.

A model is addressed everywhere by its key, "<provider key>:<model id>": "openai:gpt-5-mini",
"anthropic:claude-haiku-4-5", "google:gemini-2.5-flash", and "compat-<pk>:<model id>" for a
model of an OpenAI-compatible provider (model ids may contain ":" themselves, e.g. Ollama's
"qwen3:8b").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

OPENAI, ANTHROPIC, GOOGLE, COMPATIBLE = "openai", "anthropic", "google", "compatible"
BUILTIN_PROVIDERS = {OPENAI: "OpenAI", ANTHROPIC: "Anthropic", GOOGLE: "Google"}

CUSTOM_CONTEXT_WINDOW = 128_000
CUSTOM_MAX_OUTPUT = 16_000
MAX_CUSTOM_MODEL_ID_LENGTH = 200


@dataclass(frozen=True)
class CatalogModel:
    provider: str
    model_id: str
    display_name: str
    context_window: int
    max_output: int
    supports_attachments: bool
    supports_reasoning: bool
    input_price: Decimal | None = None  # USD per million tokens
    output_price: Decimal | None = None


def _m(
    provider: str,
    model_id: str,
    name: str,
    context: int,
    output: int,
    attachments: bool,
    reasoning: bool,
    price_in: str,
    price_out: str,
) -> CatalogModel:
    return CatalogModel(
        provider, model_id, name, context, output, attachments, reasoning,
        Decimal(price_in), Decimal(price_out),
    )  # fmt: skip


CATALOG: tuple[CatalogModel, ...] = (
    _m(OPENAI, "gpt-4o-mini", "GPT-4o mini", 128_000, 16_384, True, False, "0.15", "0.60"),
    _m(OPENAI, "gpt-4.1-nano", "GPT-4.1 nano", 1_047_576, 32_768, True, False, "0.10", "0.40"),
    _m(OPENAI, "gpt-4.1-mini", "GPT-4.1 mini", 1_047_576, 32_768, True, False, "0.40", "1.60"),
    _m(OPENAI, "gpt-4.1", "GPT-4.1", 1_047_576, 32_768, True, False, "2.00", "8.00"),
    _m(OPENAI, "gpt-5-nano", "GPT-5 Nano", 400_000, 128_000, True, True, "0.05", "0.40"),
    _m(OPENAI, "gpt-5-mini", "GPT-5 Mini", 400_000, 128_000, True, True, "0.25", "2.00"),
    _m(OPENAI, "gpt-5", "GPT-5", 400_000, 128_000, True, True, "1.25", "10.00"),
    _m(ANTHROPIC, "claude-haiku-4-5", "Claude Haiku 4.5", 200_000, 64_000, True, True, "1", "5"),
    _m(ANTHROPIC, "claude-sonnet-4-5", "Claude Sonnet 4.5", 200_000, 64_000, True, True, "3", "15"),
    _m(ANTHROPIC, "claude-opus-4-5", "Claude Opus 4.5", 200_000, 64_000, True, True, "5", "25"),
    _m(GOOGLE, "gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536, True, True,
       "0.30", "2.50"),
    _m(GOOGLE, "gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536, True, True, "1.25", "10.00"),
    _m(GOOGLE, "gemini-3-flash-preview", "Gemini 3 Flash Preview", 1_048_576, 65_536, True, True,
       "0.50", "3.00"),
    _m(GOOGLE, "gemini-3-pro-preview", "Gemini 3 Pro Preview", 1_048_576, 65_536, True, True,
       "2.00", "12.00"),
)  # fmt: skip

_BY_PROVIDER_AND_ID = {(m.provider, m.model_id): m for m in CATALOG}


def catalog_for(provider: str) -> list[CatalogModel]:
    return [m for m in CATALOG if m.provider == provider]


def catalog_model(provider: str, model_id: str) -> CatalogModel:
    """The catalog entry, or the defaults for a custom model ID typed by an administrator."""
    found = _BY_PROVIDER_AND_ID.get((provider, model_id))
    if found is not None:
        return found
    return CatalogModel(
        provider, model_id, model_id, CUSTOM_CONTEXT_WINDOW, CUSTOM_MAX_OUTPUT, False, False
    )


def default_allowed_openai() -> list[str]:
    return ["gpt-5-nano", "gpt-5-mini", "gpt-5"]


def default_allowed_anthropic() -> list[str]:
    return ["claude-haiku-4-5", "claude-sonnet-4-5"]


def default_allowed_google() -> list[str]:
    return [m.model_id for m in catalog_for(GOOGLE)]


def make_key(provider_key: str, model_id: str) -> str:
    return f"{provider_key}:{model_id}"


def compatible_provider_key(provider_pk: int) -> str:
    return f"compat-{provider_pk}"


@dataclass(frozen=True)
class AvailableModel:
    """A model a user can pick, with everything the chat needs to call it."""

    key: str
    provider_kind: str  # OPENAI, ANTHROPIC, GOOGLE or COMPATIBLE
    provider_key: str  # "openai", … or "compat-<pk>"
    provider_label: str
    model_id: str
    display_name: str
    context_window: int
    max_output: int
    supports_attachments: bool
    supports_reasoning: bool
    provider_options: dict = field(default_factory=dict, hash=False, compare=False)
    input_price: Decimal | None = None
    output_price: Decimal | None = None
