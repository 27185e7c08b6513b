"""A staff user writes a prompt with variables in Django admin, in a real browser, and uses
it from the chat."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from ai_settings.models import AISettings
from prompts.models import Prompt, PromptCollection
from tests.fakes.script import Reply
from tests.support.accounts import group_named
from tests.support.browser import log_in, open_chat
from tests.support.chat import add_local_provider, bump


@pytest.fixture
def editor(staff_user):
    staff_user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="prompts").exclude(
            codename__endswith="apitoken"
        )
    )
    PromptCollection.objects.create(name="Team prompts")
    return staff_user


def test_staff_creates_a_prompt_with_variables_and_sees_its_preview(page, editor, fake_openai):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, "staff")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Prompts", exact=True).last.click()  # the model, not the app
    page.get_by_role("link", name=re.compile("Add prompt")).click()

    page.get_by_label("Collection").select_option(label="Team prompts")
    page.get_by_label("Name:", exact=True).fill("summarize")
    page.get_by_label("Status").select_option("published")
    page.get_by_label("System prompt:", exact=True).fill("Write for {{ audience: Who reads it }}.")
    page.locator("#id_messages-0-text").fill("Summarize {{ record }} in {{ audience")
    page.get_by_role("button", name="Save and continue editing").click()

    # The unclosed placeholder is refused, with its position, and the typing is kept.
    expect(page.get_by_text("Unclosed “{{” at line 1, column 27.")).to_be_visible()
    assert not Prompt.objects.exists()
    page.locator("#id_messages-0-text").fill("Summarize {{ record }} for {{ audience }}.")
    page.get_by_role("button", name=re.compile("Add another message", re.IGNORECASE)).click()
    page.locator("#id_messages-1-role").select_option("assistant")
    page.locator("#id_messages-1-text").fill("Summary:")
    page.get_by_role("button", name="Save and continue editing").click()

    page.wait_for_url(re.compile(r"/admin/prompts/prompt/\d+/change/"))
    preview = page.locator(".prompt-preview")
    expect(preview.get_by_text("Write for <audience>.")).to_be_visible()
    expect(preview.get_by_text("Summarize <record> for <audience>.")).to_be_visible()
    expect(preview.get_by_text("Summary:")).to_be_visible()
    prompt = Prompt.objects.get(name="summarize")
    assert [m.role for m in prompt.messages.all()] == ["user", "assistant"]
    assert prompt.created_by == editor
    assert not [e for e in errors if "Content Security Policy" in e and "script" in e]

    # The collection becomes the active one and the staff member, an App user, uses the prompt.
    editor.groups.add(group_named("App users"))
    add_local_provider(fake_openai)
    AISettings.objects.filter(pk=1).update(prompts_collection=prompt.collection)
    bump()
    fake_openai.script(Reply(text="A short summary."))
    box = open_chat(page)
    box.press("/")
    page.get_by_role("button", name="summarize").click()
    page.get_by_label("audience").fill("engineers")
    page.get_by_label("record").fill("Invoice 7")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("A short summary.").wait_for()
    sent = fake_openai.last_body["messages"]
    assert "Write for engineers." in sent[0]["content"]
    assert {"role": "user", "content": "Summarize Invoice 7 for engineers."} in sent
