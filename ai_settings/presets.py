"""Presets that prefill a new OpenAI-compatible provider (values from the setup guide)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    slug: str
    name: str
    base_url: str
    # A public placeholder some servers want (Ollama ignores it); never a real secret.
    api_key: str = ""
    note: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset(
        "ollama",
        "Ollama",
        "http://localhost:11434/v1",
        api_key="ollama",
        note="The key “ollama” is required by the OpenAI SDK but ignored by Ollama. "
        "Add your pulled models, e.g. gpt-oss:20b or qwen3:8b.",
    ),
    Preset("lm-studio", "LM Studio", "http://localhost:1234/v1"),
    Preset(
        "azure-openai",
        "Azure OpenAI",
        "https://YOUR-RESOURCE.openai.azure.com/openai/v1",
        note="Replace YOUR-RESOURCE and add your deployed model names. Older API versions "
        "need an api-version custom header (e.g. 2024-10-21).",
    ),
    Preset(
        "mistral",
        "Mistral",
        "https://api.mistral.ai/v1",
        note="Models like mistral-large-latest, mistral-small-latest, codestral-latest.",
    ),
)

BY_SLUG = {preset.slug: preset for preset in PRESETS}
BLANK = Preset("", "", "")


def preset(slug: str) -> Preset:
    return BY_SLUG.get(slug, BLANK)
