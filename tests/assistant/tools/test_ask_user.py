"""ask_user: checking the model's questions, and turning the user's form into the result."""

from __future__ import annotations

import json

import pytest
from django.http import QueryDict

from assistant.tools import get_tool
from assistant.tools.arguments import ToolError
from assistant.tools.ask_user import answers_result, dismissed_result, parse_questions, read_answers


def test_questions_with_options_parse():
    questions = parse_questions(
        {
            "questions": [
                {"question": "Which collection?", "options": ["Support", "Writing"]},
                {
                    "question": "Which statuses?",
                    "options": ["draft", "published", "archived"],
                    "multiple": True,
                    "free_text": True,
                },
            ]
        }
    )
    assert [q.text for q in questions] == ["Which collection?", "Which statuses?"]
    assert questions[0].input_type == "radio" and questions[1].input_type == "checkbox"
    assert [o.label for o in questions[1].options] == ["draft", "published", "archived"]
    assert questions[1].free_text and not questions[0].free_text
    assert (questions[1].field_name, questions[1].text_field_name) == ("q1", "q1-text")


def test_more_than_four_options_is_refused_with_the_limit():
    with pytest.raises(ToolError) as caught:
        parse_questions({"questions": [{"question": "Pick", "options": ["a", "b", "c", "d", "e"]}]})
    assert caught.value.message == "questions[0] has 5 options; at most 4 per question."


def test_more_than_four_questions_is_refused():
    with pytest.raises(ToolError, match="at most 4 questions"):
        parse_questions({"questions": [{"question": f"Q{n}?"} for n in range(5)]})


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"questions": []},
        {"questions": [{"options": ["a"]}]},
        {"questions": [{"question": "x", "options": ["a", "a"]}]},
        {"questions": [{"question": "x", "multiple": "yes"}]},
        {"questions": "not json"},
    ],
)
def test_malformed_calls_are_refused(arguments):
    with pytest.raises(ToolError):
        parse_questions(arguments)


def test_arguments_and_options_as_json_strings_are_accepted():
    questions = parse_questions(
        json.dumps({"questions": json.dumps([{"question": "Go?", "options": '["yes", "no"]'}])})
    )
    assert [o.label for o in questions[0].options] == ["yes", "no"]


def test_a_question_without_options_is_free_text():
    (question,) = parse_questions({"questions": [{"question": "What title?"}]})
    assert question.free_text and question.options == ()


def test_answers_from_the_form_become_the_result():
    questions = parse_questions(
        {
            "questions": [
                {"question": "Which collection?", "options": ["Support", "Writing"]},
                {
                    "question": "Which statuses?",
                    "options": ["draft", "published"],
                    "multiple": True,
                },
                {"question": "Anything else?"},
            ]
        }
    )
    form = QueryDict(mutable=True)
    form.setlist("q0", ["1"])
    form.setlist("q1", ["0", "1"])
    form["q2-text"] = "  Be quick  "
    answers, errors = read_answers(questions, form)
    assert errors == {}
    assert json.loads(answers_result(answers).content) == {
        "answers": [
            {"question": "Which collection?", "selected": ["Writing"]},
            {"question": "Which statuses?", "selected": ["draft", "published"]},
            {"question": "Anything else?", "text": "Be quick"},
        ]
    }


def test_unanswered_and_invalid_answers_are_reported_per_question():
    questions = parse_questions(
        {
            "questions": [
                {"question": "One?", "options": ["a", "b"]},
                {"question": "Two?", "options": ["a", "b"]},
                {"question": "Three?", "options": ["a", "b"]},
            ]
        }
    )
    _, errors = read_answers(questions, {"q1": ["0", "1"], "q2": "7"})
    assert errors == {
        0: "Choose an option.",
        1: "Choose only one option.",
        2: "Choose one of the options shown.",
    }


def test_dismissing_the_questions_tells_the_model():
    result = dismissed_result()
    assert not result.is_error and json.loads(result.content)["answers"] is None


def test_ask_user_is_interactive_and_never_runs_on_the_server(db):
    tool = get_tool("ask_user")
    assert tool.interactive
    result = tool.run({"questions": [{"question": "x?"}]}, None)
    assert result.is_error and "needs a person in the chat" in result.content
    bad = tool.run({"questions": [{"question": "x?", "options": list("abcde")}]}, None)
    assert "at most 4 per question" in bad.content
