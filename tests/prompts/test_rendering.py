"""Placeholders in prompts: finding variables, rendering, and syntax errors with positions."""

from __future__ import annotations

import pytest

from prompts.models import Prompt, PromptCollection, PromptMessage
from prompts.rendering import (
    MissingVariableError,
    PlaceholderSyntaxError,
    Variable,
    check_syntax,
    render,
    sample_values,
    syntax_errors,
    variables,
    variables_in,
)


@pytest.fixture
def prompt(db) -> Prompt:
    collection = PromptCollection.objects.create(name="Team")
    prompt = Prompt.objects.create(
        collection=collection,
        name="email",
        system_prompt="Write as {{ tone: The voice to write in, e.g. formal }}.",
    )
    # Created out of order on purpose: messages render by position.
    PromptMessage.objects.create(prompt=prompt, position=2, role="assistant", text="Dear {{name}},")
    PromptMessage.objects.create(
        prompt=prompt,
        position=1,
        role="user",
        text="Email {{ name: Who to write to }} in a {{tone}} way.",
    )
    return prompt


def test_variables_come_in_order_of_first_appearance_with_descriptions(prompt):
    assert variables(prompt) == [
        Variable("tone", "The voice to write in, e.g. formal"),
        Variable("name", "Who to write to"),
    ]


def test_first_description_given_for_a_variable_wins():
    found = variables_in(["{{ a }} {{ a: First }}", "{{ a: Second }}"])
    assert found == [Variable("a", "First")]


def test_render_fills_system_prompt_and_messages_in_order(prompt):
    rendered = render(prompt, {"tone": "friendly", "name": "Ada"})
    assert rendered.system_prompt == "Write as friendly."
    assert rendered.messages == (
        ("user", "Email Ada in a friendly way."),
        ("assistant", "Dear Ada,"),
    )


def test_value_containing_a_placeholder_is_inserted_verbatim(prompt):
    rendered = render(prompt, {"tone": "{{ name }}", "name": "Ada"})
    assert rendered.system_prompt == "Write as {{ name }}."


def test_missing_variable_error_names_it(prompt):
    with pytest.raises(MissingVariableError, match="Missing value for variable “name”") as raised:
        render(prompt, {"tone": "formal"})
    assert raised.value.names == ["name"]


def test_blank_value_counts_as_missing(prompt):
    with pytest.raises(MissingVariableError, match="variables “tone”, “name”"):
        render(prompt, {"tone": "  ", "name": None})


def test_sample_values_show_each_variable_by_name(prompt):
    assert render(prompt, sample_values(prompt)).messages[0] == (
        "user",
        "Email <name> in a <tone> way.",
    )


def test_unclosed_braces_are_reported_with_line_and_column():
    (error,) = syntax_errors("Hello {{ name }},\nplease read {{ topic")
    assert (error.position.line, error.position.column, error.position.offset) == (2, 13, 30)
    assert str(error) == "Unclosed “{{” at line 2, column 13."


def test_braces_reopened_before_closing_are_unclosed():
    (error,) = syntax_errors("{{ a {{ b }}")
    assert str(error) == "Unclosed “{{” at line 1, column 1."


@pytest.mark.parametrize("text", ["{{ }}", "{{ 1st }}", "{{ two words }}", "{{ : description }}"])
def test_placeholder_without_a_valid_name_is_an_error(text):
    with pytest.raises(PlaceholderSyntaxError, match="line 1, column 1: a variable name uses"):
        check_syntax(text)


def test_every_error_in_a_text_is_reported():
    errors = syntax_errors("{{ ok }} {{ }} and {{ open")
    assert [e.position.column for e in errors] == [10, 20]


def test_text_without_placeholders_is_valid():
    assert syntax_errors("Plain text with single { braces } and }} closers.") == []
