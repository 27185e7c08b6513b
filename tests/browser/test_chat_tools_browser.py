"""Approval cards and questions in a real Chromium: the turn pauses, the user decides in the
chat, and the answer streams on without a reload."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from prompts.models import PromptCollection
from tests.fakes.script import Call, Reply
from tests.support.browser import log_in, open_chat
from tests.support.chat import add_local_provider

pytestmark = pytest.mark.browser


def test_approve_a_delete_in_the_chat_and_the_answer_goes_on(page, app_user, fake_openai):
    app_user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="prompts", codename__endswith="promptcollection"
        )
    )
    doomed = PromptCollection.objects.create(name="Old stuff")
    add_local_provider(fake_openai)
    fake_openai.script(
        Reply(text="I will delete it.", tool_calls=[Call("items", {
            "action": "delete", "collection": "prompts.promptcollection", "keys": [doomed.pk],
        })]),
        Reply(text="Done: “Old stuff” is deleted.", chunk_size=4, delay=0.02),
    )  # fmt: skip
    log_in(page, "app-user")
    box = open_chat(page)
    box.fill("Delete Old stuff")
    box.press("Enter")

    card = page.get_by_role("region", name="Approve this change?")
    card.wait_for()
    assert "Delete 1 item from Prompt collections" in card.inner_text()
    assert PromptCollection.objects.filter(pk=doomed.pk).exists()
    card.get_by_role("button", name="Approve").click()

    page.get_by_text("Done: “Old stuff” is deleted.").wait_for()
    assert not PromptCollection.objects.filter(pk=doomed.pk).exists()
    assert page.get_by_role("region", name="Approve this change?").count() == 0


def test_answer_a_question_and_the_turn_continues(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    fake_openai.script(
        Reply(tool_calls=[Call("ask_user", {
            "questions": [{"question": "Which colour?", "options": ["Red", "Blue"]}],
        })]),
        Reply(text="Blue it is."),
    )  # fmt: skip
    log_in(page, "app-user")
    box = open_chat(page)
    box.fill("Pick a colour with me")
    box.press("Enter")

    question = page.get_by_role("group", name="Which colour?")
    question.wait_for()
    question.get_by_label("Blue").check()
    page.get_by_role("button", name="Send answer").click()

    page.get_by_text("Blue it is.").wait_for()
    sent = fake_openai.last_body["messages"]
    assert sent[-1]["role"] == "tool" and "Blue" in sent[-1]["content"]
