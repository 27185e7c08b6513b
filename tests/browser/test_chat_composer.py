"""The message box in a real Chromium: Enter and Shift+Enter, empty messages, "/" for the
prompt picker, a prompt with a variable, the model picker's file input, copying code."""

from __future__ import annotations

import pytest

from ai_settings.models import AISettings
from prompts.models import Prompt, PromptCollection, PromptMessage
from tests.fakes.script import Reply
from tests.support.browser import log_in, open_chat
from tests.support.chat import add_local_provider, bump

pytestmark = pytest.mark.browser


def test_shift_enter_adds_a_line_and_an_empty_message_is_not_sent(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    log_in(page, "app-user")
    box = open_chat(page)
    box.press("Enter")
    box.fill("   ")
    box.press("Enter")
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    page.wait_for_timeout(300)
    assert fake_openai.generation_requests() == []
    assert page.locator(".message-user").count() == 0

    box.press("Enter")
    page.locator(".message-assistant.status-complete").wait_for()
    assert fake_openai.last_body["messages"][-1]["content"] == "first line\nsecond line"


def test_slash_opens_the_prompts_and_a_prompt_with_a_variable_is_sent(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    collection = PromptCollection.objects.create(name="Team")
    prompt = Prompt.objects.create(
        collection=collection,
        name="translate",
        status=Prompt.Status.PUBLISHED,
        system_prompt="You are a translator.",
    )
    PromptMessage.objects.create(
        prompt=prompt, role="user", text="Translate {{ phrase }} to French."
    )
    AISettings.objects.filter(pk=1).update(prompts_collection=collection)
    bump()
    fake_openai.script(Reply(text="Bonjour."))
    log_in(page, "app-user")
    box = open_chat(page)

    box.press("/")
    assert box.input_value() == ""  # the "/" opened the picker instead of being typed
    page.get_by_role("button", name="translate").click()
    page.get_by_label("phrase").fill("good morning")
    page.get_by_role("button", name="Send").click()

    page.get_by_text("Bonjour.").wait_for()
    sent = fake_openai.last_body["messages"]
    assert "You are a translator." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Translate good morning to French."}


def test_the_file_input_follows_the_chosen_model(page, app_user, fake_openai):
    add_local_provider(fake_openai, name="Vision", display_name="Sees images")
    add_local_provider(
        fake_openai, name="Text", display_name="Text only", supports_attachments=False
    )
    log_in(page, "app-user")
    open_chat(page)
    files = page.get_by_label("Attach files")
    page.get_by_label("Model").select_option(label="Sees images")
    assert files.is_visible()
    page.get_by_label("Model").select_option(label="Text only")
    assert not files.is_visible()


def test_copy_puts_the_code_on_the_clipboard(page, app_user, fake_openai):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    add_local_provider(fake_openai)
    fake_openai.script(Reply(text="Run this:\n\n```sh\nmake demo\n```\n"))
    log_in(page, "app-user")
    box = open_chat(page)
    box.fill("How do I start?")
    box.press("Enter")
    copy = page.get_by_role("button", name="Copy code")
    copy.click()
    page.get_by_role("button", name="Copy code").filter(has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "make demo\n"


def test_a_refused_form_says_to_reload_the_page(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    log_in(page, "app-user")
    box = open_chat(page)
    page.context.clear_cookies(name="csrftoken")  # as after a long pause in another tab
    box.fill("Hello?")
    box.press("Enter")
    page.get_by_role("alert").filter(has_text="Reload the page and try again").wait_for()
    assert box.input_value() == "Hello?"  # nothing lost
    assert fake_openai.generation_requests() == []
