"""Usage controls: which models a user may pick (per-group restrictions), and (usage issue)
the ledger, budgets and rate limits."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from ai_settings.catalog import AvailableModel
from ai_settings.current import CurrentSettings
from ai_settings.models import GroupAIPolicy


def models_for_user(user: Any, current: CurrentSettings) -> tuple[AvailableModel, ...]:
    """The allowed models this user may pick. Groups with a model restriction narrow the list
    to the union of their subsets; a user none of whose groups restricts models sees all."""
    subsets = list(
        GroupAIPolicy.objects.filter(group__user=user).values_list("allowed_models", flat=True)
    )
    if not subsets or any(subset is None for subset in subsets):
        return current.models
    allowed = set().union(*subsets)
    return tuple(model for model in current.models if model.key in allowed)


async def amodels_for_user(user: Any, current: CurrentSettings) -> tuple[AvailableModel, ...]:
    return await sync_to_async(models_for_user)(user, current)
