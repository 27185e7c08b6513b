"""Answers that outlive their page (issue #17), in a real Chromium: ask in the panel on an
admin page and go to another one mid-answer; watch one answer in two tabs (reasoning, a tool
call and the next step included); stop it from the second tab or from another device; reload
mid-answer. The answer goes on in the server whoever watches it, and every page that opens
it shows the text so far, then the rest as it comes, to the same end; meanwhile its message
box does not send, and a message sent from a tab that did not know is refused."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from assistant.models import Conversation, Message
from assistant.turns import STILL_WRITING
from prompts.models import PromptCollection
from tests.fakes.script import Call, Reply
from tests.support.accounts import group_named
from tests.support.browser import log_in
from tests.support.chat import add_local_provider

pytestmark = pytest.mark.browser

# About four seconds of answer, markdown included, so that its final render shows.
FOX_STORY = "**Foxes** are clever. " + "The quick brown fox jumps over the lazy dog. " * 10
LONG = Reply(text=FOX_STORY, chunk_size=6, delay=0.05)
THOUGHT = "Foxes are canids; keep it light. "
REASONED = Reply(reasoning=THOUGHT, text=FOX_STORY, chunk_size=6, delay=0.04)
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


# The length of the text of the answer being written in `root`, when longer than `n`.
_LONGER = """([root, n]) => {
  const text = root.querySelector(".status-streaming .streaming-text");
  const length = text ? text.textContent.length : 0;
  return length > n ? length : false;
}"""


def wait_until_longer(chat, length: int) -> int:
    """Until the answer being written shows more than `length` characters; how many. (One
    read in the page: the final render replaces the streamed text at any moment.)"""
    return chat.page.wait_for_function(_LONGER, arg=[chat.element_handle(), length]).json_value()


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
    expect(panel.get_by_role("button", name="Send")).to_be_disabled()

    done = panel.locator(COMPLETE)
    expect(done).to_be_visible()
    expect(panel.get_by_role("button", name="Send")).to_be_enabled()
    expect(done.locator(".message-text.markdown strong")).to_have_text("Foxes")
    expect(done).to_contain_text("The quick brown fox jumps over the lazy dog. " * 10)
    expect(panel.get_by_role("log", name="Messages")).not_to_contain_text("Interrupted")
    stored = Message.objects.get(role="assistant")
    assert (stored.status, stored.content) == ("complete", FOX_STORY)


def open_conversation(page, conversation: Conversation):
    """The conversation on the full page, with its message box ready; its chat."""
    page.goto(f"/assistant/c/{conversation.pk}/")
    chat = page.locator("#chat")
    chat.get_by_role("textbox", name="Message").wait_for()
    return chat


def new_tab(page):
    """A second page of the same browser (its session, its cache)."""
    tab = page.context.new_page()
    tab.set_default_timeout(10_000)
    return tab


def start_in_first_tab(page, question: str):
    """Tab 1 asks on the full page; its chat and the conversation, once the answer shows."""
    page.goto("/assistant/")
    chat = page.locator("#chat")
    send(chat, question)
    wait_until_longer(chat, 0)
    return chat, Conversation.objects.get()


def test_two_tabs_show_the_same_answer_growing_to_the_same_end(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    fake_openai.script(REASONED, Reply(text="Dogs are loyal."))
    log_in(page, "app-user")
    first, conversation = start_in_first_tab(page, "Tell me a long story about foxes")
    second = open_conversation(new_tab(page), conversation)

    # Both show it growing, and neither takes another message meanwhile.
    for chat in (second, first, second):
        wait_until_longer(chat, wait_until_longer(chat, 0))
        expect(chat.get_by_role("button", name="Send")).to_be_disabled()
    expect(second.locator(".message-user")).to_have_text("Tell me a long story about foxes")

    for chat in (first, second):
        expect(chat.locator(COMPLETE).locator(".message-text.markdown strong")).to_have_text(
            "Foxes"
        )
        expect(chat.get_by_role("button", name="Send")).to_be_enabled()
    answers = [
        chat.locator(COMPLETE).locator(".message-text").inner_text() for chat in (first, second)
    ]
    assert answers[0] == answers[1]
    assert answers[0].startswith("Foxes are clever. The quick brown fox")
    assert answers[0].count("The quick brown fox jumps over the lazy dog.") == 10
    for chat in (first, second):  # the reasoning came along too
        expect(chat.locator(COMPLETE).locator(".thinking-text")).to_have_text(THOUGHT.strip())
    stored = Message.objects.get(role="assistant")
    assert (stored.status, stored.content, stored.reasoning) == ("complete", FOX_STORY, THOUGHT)

    # The tab that only followed the answer takes the next message.
    send(second, "And one about dogs")
    expect(second.locator(COMPLETE).last).to_contain_text("Dogs are loyal.")


def test_a_second_tab_follows_a_tool_call_and_the_next_step(page, app_user, fake_openai):
    app_user.user_permissions.add(Permission.objects.get(codename="view_promptcollection"))
    PromptCollection.objects.create(name="Team prompts")
    add_local_provider(fake_openai)
    looking = "Let me look them up in the prompt collections. " * 4
    found = "You have one collection: Team prompts. " * 3
    read = Call("items", {"action": "read", "collection": "prompts.promptcollection"})
    fake_openai.script(
        Reply(text=looking, chunk_size=6, delay=0.04, tool_calls=[read]),
        Reply(text=found, chunk_size=6, delay=0.04),
    )
    log_in(page, "app-user")
    first, conversation = start_in_first_tab(page, "Which prompt collections do I have?")
    second = open_conversation(new_tab(page), conversation)

    for chat in (second, first):
        expect(chat.locator(COMPLETE).last).to_contain_text(found.strip())
        answers = chat.locator(".message-assistant")
        expect(answers).to_have_count(2)
        expect(answers.first).to_contain_text(looking.strip())
        expect(answers.first.locator(".tool-call")).to_contain_text("items")
        expect(answers.first.locator(".tool-call-result")).to_contain_text("Team prompts")
        expect(chat.get_by_role("button", name="Send")).to_be_enabled()
    stored = list(Message.objects.filter(role="assistant").order_by("pk"))
    assert [(m.status, m.content) for m in stored] == [
        ("complete", looking),
        ("complete", found),
    ]


def test_stop_from_the_second_tab_stops_the_answer_in_both(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    fake_openai.script(ENDLESS)
    log_in(page, "app-user")
    first, conversation = start_in_first_tab(page, "Tell me an endless story")
    second = open_conversation(new_tab(page), conversation)
    wait_until_longer(second, wait_until_longer(second, 0))

    second.locator(STREAMING).get_by_role("button", name="Stop").click()
    for chat in (second, first):
        stopped = chat.locator(STOPPED)
        expect(stopped).to_contain_text("Stopped.")
        expect(stopped).to_contain_text("Once upon a time")
        expect(chat.locator(STREAMING)).to_have_count(0)
        expect(chat.get_by_role("button", name="Send")).to_be_enabled()
    answers = [
        chat.locator(STOPPED).locator(".message-text").inner_text() for chat in (first, second)
    ]
    assert answers[0] == answers[1]
    stored = Message.objects.get(role="assistant")
    assert stored.status == "stopped"
    assert 0 < len(stored.content) < len(ENDLESS.text)
    assert ENDLESS.text.startswith(stored.content)


def test_another_device_follows_the_answer_even_when_its_sse_script_comes_late(
    page, browser, asgi_server, app_user, fake_openai
):
    """htmx starts on a timer once its script ran; the hx-sse extension's script may come
    after that (a slow network): the page must still follow the answer it shows, and can
    stop it."""
    add_local_provider(fake_openai)
    fake_openai.script(ENDLESS)
    log_in(page, "app-user")
    first, conversation = start_in_first_tab(page, "Tell me an endless story")

    device = browser.new_context(base_url=asgi_server.url)
    try:
        other = device.new_page()
        other.set_default_timeout(10_000)
        log_in(other, "app-user")
        held = []

        def hold(route) -> None:  # a function: Playwright takes no built-in method
            held.append(route)

        other.route(re.compile(r"/hx-sse-4[^/]*\.js$"), hold)
        other.goto(f"/assistant/c/{conversation.pk}/", wait_until="commit")
        # htmx has processed the page, and the extension's script is still on its way.
        other.wait_for_function("() => document.querySelector('#chat-form[data-htmx-powered]')")
        assert len(held) == 1
        held[0].continue_()

        second = other.locator("#chat")
        wait_until_longer(second, wait_until_longer(second, 0))
        second.locator(STREAMING).get_by_role("button", name="Stop").click()
        for chat in (second, first):
            expect(chat.locator(STOPPED)).to_contain_text("Stopped.")
            expect(chat.get_by_role("button", name="Send")).to_be_enabled()
    finally:
        device.close()


def open_surface(page, surface: str):
    """The chat on the full page (a new one), or in the panel opened on an admin page."""
    if surface == "page":
        page.goto("/assistant/")
        return page.locator("#chat")
    page.goto("/admin/")
    return open_panel(page)


def reopen_surface(page, surface: str):
    """The same chat after the page was loaded again."""
    if surface == "page":
        return page.locator("#chat")
    return open_panel(page)


@pytest.mark.parametrize("surface", ["page", "panel"])
def test_reload_mid_answer_shows_it_going_on_to_its_end(page, admin_app_user, fake_openai, surface):
    add_local_provider(fake_openai)
    fake_openai.script(LONG)
    log_in(page, "root")
    chat = open_surface(page, surface)
    send(chat, "Tell me a long story about foxes")
    wait_until_longer(chat, 0)

    page.reload()
    chat = reopen_surface(page, surface)
    expect(chat.locator(".message-user")).to_have_text("Tell me a long story about foxes")
    wait_until_longer(chat, wait_until_longer(chat, 0))
    expect(chat.get_by_role("button", name="Send")).to_be_disabled()

    done = chat.locator(COMPLETE)
    expect(done.locator(".message-text.markdown strong")).to_have_text("Foxes")
    expect(done).to_contain_text("The quick brown fox jumps over the lazy dog. " * 10)
    expect(chat).not_to_contain_text("Interrupted")
    expect(chat.get_by_role("button", name="Send")).to_be_enabled()
    stored = Message.objects.get(role="assistant")
    assert (stored.status, stored.content) == ("complete", FOX_STORY)


def test_a_message_into_a_conversation_still_being_answered_is_refused(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    fake_openai.script(Reply(text="Hello."), LONG)
    log_in(page, "app-user")
    page.goto("/assistant/")
    first = page.locator("#chat")
    send(first, "Hi")
    expect(first.locator(COMPLETE)).to_contain_text("Hello.")
    # A second tab opened before the next question: it does not know an answer is coming.
    second = open_conversation(new_tab(page), Conversation.objects.get())
    send(first, "Tell me a long story about foxes")
    wait_until_longer(first, 0)

    send(second, "And one about dogs")
    alert = second.locator("#chat-form-error").get_by_role("alert")
    expect(alert).to_have_text(STILL_WRITING)
    expect(second.get_by_role("textbox", name="Message")).to_have_value("And one about dogs")
    expect(first.locator(COMPLETE).last).to_contain_text("The quick brown fox")
    assert len(fake_openai.generation_requests()) == 2
    assert not Message.objects.filter(content="And one about dogs").exists()
