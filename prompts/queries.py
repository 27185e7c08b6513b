"""The prompts users may run: the published prompts of the active collection (Settings → AI →
AI Prompts Collection, whose id the callers pass). Used by the chat's prompt picker, the
`prompts` tool and MCP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from prompts.models import Prompt, PromptCollection
from prompts.rendering import RenderedPrompt, render

NO_ACTIVE_COLLECTION = (
    "No prompts collection is active. An administrator can choose one in "
    "Settings → AI → AI Prompts Collection."
)


class NoActiveCollection(LookupError):
    def __init__(self) -> None:
        super().__init__(NO_ACTIVE_COLLECTION)


class UnknownPrompt(LookupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"There is no published prompt named “{name}” in the active collection.")


def active_collection(collection_id: int | None) -> PromptCollection | None:
    """The active collection, or None when none is chosen (or it was deleted since)."""
    if collection_id is None:
        return None
    return PromptCollection.objects.filter(pk=collection_id).first()


def _published(collection_id: int | None) -> QuerySet[Prompt]:
    return (
        Prompt.objects.filter(collection_id=collection_id, status=Prompt.Status.PUBLISHED)
        .prefetch_related("messages")
        .order_by("name")
    )


def published_prompts(collection_id: int | None) -> list[Prompt]:
    """The active collection's published prompts by name, messages prefetched; [] when no
    collection is active."""
    if collection_id is None:
        return []
    return list(_published(collection_id))


def published_prompt(collection_id: int | None, name: str) -> Prompt:
    """One published prompt of the active collection; raises NoActiveCollection or
    UnknownPrompt."""
    if active_collection(collection_id) is None:
        raise NoActiveCollection
    prompt = _published(collection_id).filter(name=name).first()
    if prompt is None:
        raise UnknownPrompt(name)
    return prompt


def render_published(
    collection_id: int | None, name: str, values: Mapping[str, Any]
) -> RenderedPrompt:
    """Look up and render a published prompt. Raises NoActiveCollection, UnknownPrompt or
    rendering.MissingVariableError (its message names the missing variables)."""
    return render(published_prompt(collection_id, name), values)


apublished_prompts = sync_to_async(published_prompts)
aactive_collection = sync_to_async(active_collection)
