"""Answers that outlive their page (issue #17), in a real Chromium: ask in the panel on an
admin page and go to another one mid-answer; watch one answer in two tabs; stop it from the
second; reload mid-answer. The answer goes on in the server whoever watches it, and every
page that opens it shows the text so far, then the rest as it comes, to the same end."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation, Message
from assistant.turns import STILL_WRITING
from tests.fakes.script import Reply
from tests.support.accounts import group_named
from tests.support.browser import log_in
from tests.support.chat import add_local_provider

pytestmark = pytest.mark.browser

# About three seconds of answer, markdown included, so that its final render shows.
FOX_STORY = "**Foxes** are clever. " + "The quick brown fox jumps over the lazy dog. " * 10
LONG = Reply(text=FOX_STORY, chunk_size=6, delay=0.04)
# Longer than any test waits: only Stop ends it.
ENDLESS = Reply(text="Once upon a time " * 200, chunk_size=6, delay=0.05)

STREAMING = ".message-assistant.status-streaming"
COMPLETE = ".message-assistant.status-complete"
STOPPED = ".message-assistant.status-stopped"


@pytest.fixture
def admin_app_user(superuser):
    """A superuser who also uses the assistant: Django admin's pages show the panel."""
    superuser.groups.add(group_named("App users"))
    return superuser


def open_panel(page):
    """The panel on the current page, opened, with its chat loaded."""
    page.get_by_role("button", name="Assistant", exact=True).click()
    panel = page.get_by_role("complementary", name="Assistant panel")
    panel.get_by_role("textbox", name="Message").wait_for()
    return panel


def send(chat, text: str) -> None:
    box = chat.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def streamed_text(chat):
    return chat.locator(STREAMING).locator(".streaming-text")


def wait_until_longer(chat, length: int) -> int:
    """Until the answer being written shows more than `length` characters; how many."""
    text = streamed_text(chat)
    expect(text).to_have_text(re.compile(r"^[\s\S]{%d,}" % (length + 1)))
    return len(text.inner_text())


def stored_progress(min_length: int = 1, timeout: float = 10) -> str:
    """The answer's text as its worker stored it so far (a progress save), once it has
    `min_length` characters."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = Message.objects.filter(role="assistant", status="streaming").first()
        if found is not None and len(found.content) >= min_length:
            return found.content
        time.sleep(0.05)
    raise AssertionError("the answer was never stored while being written")


def test_panel_answer_goes_on_after_navigating_to_another_admin_page(
    page, admin_app_user, fake_openai
):
    add_local_provider(fake_openai)
    fake_openai.script(LONG)
    log_in(page, "root")
    page.goto("/admin/")
    panel = open_panel(page)
    send(panel, "Tell me a long story about foxes")
    wait_until_longer(panel, 0)
    so_far = stored_progress()

    # Mid-answer, to another admin page, and the panel again there.
    page.get_by_role("link", name="Users").click()
    page.wait_for_url("**/admin/auth/user/")
    with page.expect_response(re.compile(r"/assistant/panel/")) as opened:
        panel = open_panel(page)
    # The panel comes with the text so far, and follows the answer as it is written.
    assert so_far in opened.value.text()
    writing = panel.locator(STREAMING)
    expect(writing).to_be_visible()
    expect(writing.locator(".streaming-text")).to_contain_text(so_far)
    length = wait_until_longer(panel, len(so_far))
    wait_until_longer(panel, length)

    done = panel.locator(COMPLETE)
    expect(done).to_be_visible()
    expect(done.locator(".message-text.markdown strong")).to_have_text("Foxes")
    expect(done).to_contain_text("The quick brown fox jumps over the lazy dog. " * 10)
    expect(panel.get_by_role("log", name="Messages")).not_to_contain_text("Interrupted")
    stored = Message.objects.get(role="assistant")
    assert (stored.status, stored.content) == ("complete", FOX_STORY)
