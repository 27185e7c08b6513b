"""Shared set-up for the usage tests: AI settings with providers configured, ledger rows at
chosen times, groups with policies."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import Group

from ai_settings.current import CurrentSettings, get_current
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider, GroupAIPolicy
from assistant.models import UsageRecord

# get_current() rebuilds its snapshot when the settings version changes; the test database
# is emptied between tests, so each configuration gets a version no earlier test used.
_versions = itertools.count(1_000_000)


def configure(**fields) -> CurrentSettings:
    """Save AI settings (OpenAI and Anthropic keys set unless given) and return the snapshot."""
    row = AISettings.load()
    values = {
        "openai_api_key": "sk-test-openai",
        "anthropic_api_key": "sk-ant-test",
        "openai_allowed_models": ["gpt-5-mini", "gpt-5"],
        "anthropic_allowed_models": ["claude-haiku-4-5"],
        **fields,
    }
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    AISettings.objects.filter(pk=1).update(version=next(_versions))
    return get_current()


def add_compatible_provider(name: str = "Ollama", **model_fields) -> CompatibleModel:
    provider = CompatibleProvider.objects.create(name=name, base_url="http://127.0.0.1:9/v1")
    return CompatibleModel.objects.create(provider=provider, model_id="qwen3:8b", **model_fields)


def ledger_row(user, at: datetime, *, provider="OpenAI", provider_key="openai", model="gpt-5",
               input_tokens=0, output_tokens=0, cost: str | None = None, outcome="ok",
               reasoning_tokens=0, duration_ms=100, estimated=False) -> UsageRecord:  # fmt: skip
    record = UsageRecord.objects.create(
        user=user,
        provider=provider,
        provider_key=provider_key,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning_tokens,
        cost=Decimal(cost) if cost is not None else None,
        duration_ms=duration_ms,
        outcome=outcome,
        estimated=estimated,
    )
    # created_at is auto_now_add: move the row to the wanted time afterwards.
    UsageRecord.objects.filter(pk=record.pk).update(created_at=at)
    record.created_at = at
    return record


def group_with_policy(name: str, users=(), *, budget=None, models=None) -> Group:
    group = Group.objects.create(name=name)
    for user in users:
        user.groups.add(group)
    GroupAIPolicy.objects.create(group=group, daily_token_budget=budget, allowed_models=models)
    return group
