"""The approval card and the ask_user form render the exact call for the user."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.template.loader import render_to_string

from ai_settings.current import get_current
from assistant.models import Conversation, Message, ToolCall
from assistant.tool_calls import answer, approval_context, question_context

pytestmark = pytest.mark.django_db


def pending(user, name, arguments) -> ToolCall:
    conversation = Conversation.objects.create(user=user)
    message = Message.objects.create(conversation=conversation, role="assistant")
    return ToolCall.objects.create(message=message, call_id="c1", name=name, arguments=arguments)


def test_approval_card_shows_collection_keys_data_and_count(superuser, library):
    keys = [library["greet"].pk, library["essay"].pk]
    row = pending(
        superuser,
        "items",
        {
            "action": "update",
            "collection": "prompts.prompt",
            "keys": keys,
            "data": {"status": "archived"},
        },
    )
    context = approval_context(row, superuser, get_current(), approve_url="/a/", deny_url="/d/")
    html = render_to_string("assistant/_tool_approval.html", context)
    assert "Update 2 items in Prompts (prompts.prompt)" in html
    assert "<dt>Items affected</dt><dd>2</dd>" in html
    assert f"<dt>Keys</dt><dd>{keys[0]}, {keys[1]}</dd>" in html
    assert "&quot;status&quot;: &quot;archived&quot;" in html
    assert 'action="/a/"' in html and 'action="/d/"' in html


def test_approval_card_lists_what_a_delete_takes_along(superuser, library):
    row = pending(
        superuser,
        "items",
        {
            "action": "delete",
            "collection": "prompts.promptcollection",
            "keys": [library["support"].pk],
        },
    )
    context = approval_context(row, superuser, get_current(), approve_url="/a/", deny_url="/d/")
    html = render_to_string("assistant/_tool_approval.html", context)
    assert "<dt>Also deleted</dt><dd>3 prompts</dd>" in html


def test_ask_user_form_shows_questions_and_keeps_answers_after_an_error(app_user):
    row = pending(
        app_user,
        "ask_user",
        {
            "questions": [
                {
                    "question": "Which statuses?",
                    "options": ["draft", "published"],
                    "multiple": True,
                },
                {"question": "Which one?", "options": ["A", "B"], "free_text": True},
            ]
        },
    )
    form = QueryDict("q0=1")
    errors = answer(row, app_user, form)
    assert errors == {1: "Choose an option or write an answer."}
    html = render_to_string(
        "assistant/_ask_user_form.html",
        question_context(row, answer_url="/ans/", dismiss_url="/skip/", form=form, errors=errors),
    )
    assert "<legend>Which statuses?</legend>" in html
    assert 'type="checkbox" name="q0" value="1" checked' in html
    assert 'type="checkbox" name="q0" value="0">' in html
    assert 'type="radio" name="q1" value="0"' in html
    assert 'name="q1-text"' in html and 'name="q0-text"' not in html
    assert "Choose an option or write an answer." in html
    assert 'formaction="/skip/"' in html
