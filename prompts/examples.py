"""“Generate new collection” on Settings → AI: a fresh collection with three example prompts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from prompts.models import Prompt, PromptCollection, PromptMessage
from prompts.users import User

BASE_NAME = "Example prompts"


@dataclass(frozen=True)
class ExamplePrompt:
    name: str
    description: str
    system_prompt: str
    messages: tuple[tuple[str, str], ...]


EXAMPLES: tuple[ExamplePrompt, ...] = (
    ExamplePrompt(
        name="summarize-record",
        description="Summarize one record of a model in a few plain sentences.",
        system_prompt=(
            "You summarize records for busy colleagues. Look the record up with your tools "
            "before writing; never invent field values. Write for {{ audience: Who will read "
            "the summary, e.g. “the sales team” }}."
        ),
        messages=(
            (
                "user",
                (
                    "Summarize record {{ record_id: The primary key of the record }} of "
                    "{{ model: The model, as app_label.ModelName, e.g. library.Book }}. Keep it "
                    "under five sentences and end with anything that looks incomplete or "
                    "inconsistent."
                ),
            ),
        ),
    ),
    ExamplePrompt(
        name="draft-email",
        description="Draft a short email about one item, using its real data.",
        system_prompt=(
            "You draft clear, friendly emails. Fetch the item with your tools first and only "
            "state facts you found. Do not send anything: return the draft only."
        ),
        messages=(
            (
                "user",
                (
                    "Draft an email to {{ recipient: Who the email is for }} about item "
                    "{{ item_id: The primary key of the item }} in {{ model: The model, as "
                    "app_label.ModelName }}. Purpose: {{ purpose: What the email should achieve, "
                    "e.g. “ask for missing details” }}."
                ),
            ),
            ("assistant", "Here is a draft with a subject line and a short body:"),
        ),
    ),
    ExamplePrompt(
        name="explain-field",
        description="Explain what a field means and how it is used, from the schema and data.",
        system_prompt=(
            "You explain data models to people who are not developers. Read the schema with "
            "your tools and, when useful, look at a few example values. Avoid jargon."
        ),
        messages=(
            (
                "user",
                (
                    "What does the field {{ field: The field name }} of {{ model: The model, as "
                    "app_label.ModelName }} mean? Explain its type, whether it is required, what "
                    "values it usually holds, and how it relates to other models."
                ),
            ),
        ),
    ),
)


def _unique_name() -> str:
    taken = set(
        PromptCollection.objects.filter(name__startswith=BASE_NAME).values_list("name", flat=True)
    )
    if BASE_NAME not in taken:
        return BASE_NAME
    number = 2
    while f"{BASE_NAME} {number}" in taken:
        number += 1
    return f"{BASE_NAME} {number}"


@transaction.atomic
def create_example_collection(user: User | None = None) -> PromptCollection:
    """A new collection (“Example prompts”, “Example prompts 2”, …) holding the example
    prompts, published. Does not make it the active collection."""
    collection = PromptCollection.objects.create(
        name=_unique_name(),
        description="Example prompts with variables. Edit them or use them as a starting point.",
    )
    for example in EXAMPLES:
        prompt = Prompt.objects.create(
            collection=collection,
            name=example.name,
            status=Prompt.Status.PUBLISHED,
            description=example.description,
            system_prompt=example.system_prompt,
            created_by=user,
            updated_by=user,
        )
        PromptMessage.objects.bulk_create(
            PromptMessage(prompt=prompt, position=position, role=role, text=text)
            for position, (role, text) in enumerate(example.messages, start=1)
        )
    return collection
