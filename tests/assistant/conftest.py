"""Fixtures of the assistant's tests: prompts and their collections registered in Django
admin, and a library of them for the tools to read and change."""

from __future__ import annotations

from typing import Any

import pytest

from prompts.models import Prompt, PromptCollection
from tests.support.tools import registered


@pytest.fixture(name="prompt_collections")
def prompt_collections_fixture():
    """Prompts and their collections registered in admin (the prompts app does it; this makes
    the tests independent of that)."""
    with registered(PromptCollection, Prompt):
        yield


@pytest.fixture(name="library")
def library_fixture(db, prompt_collections) -> dict[str, Any]:
    """Two collections with prompts in several states."""
    support = PromptCollection.objects.create(name="Support", description="Helpdesk prompts")
    writing = PromptCollection.objects.create(name="Writing")
    prompts = {
        "greet": Prompt.objects.create(collection=support, name="greet", status="published"),
        "refund": Prompt.objects.create(
            collection=support, name="refund", status="draft", description="Refund policy answer"
        ),
        "close": Prompt.objects.create(collection=support, name="close", status="archived"),
        "essay": Prompt.objects.create(
            collection=writing, name="essay", status="published", description="Long form"
        ),
    }
    return {"support": support, "writing": writing, **prompts}
