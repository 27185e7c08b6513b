"""Refusals in a real Chromium: a message refused before any provider call (too long, a file
that is not what its name says, a file type not accepted, a model the user may no longer
use) and an empty rename in the panel answer 400. The reason shows in the chat, where a rate
limit's 429 shows it; the page stays as it was, with what the user typed; the next message
goes out on its own. An error page (a 404 for a conversation deleted in another tab, a 403
for an expired form) is never swapped over the chat: the chat says what happened."""

from __future__ import annotations

import pytest

from ai_settings.models import AISettings, CompatibleProvider
from assistant.forms import MAX_MESSAGE_CHARS
from assistant.models import Conversation, Message
from prompts.models import Prompt, PromptCollection
from tests.fakes.script import Reply
from tests.support.browser import log_in
from tests.support.chat import add_local_provider, bump

pytestmark = pytest.mark.browser

SURFACES = ["page", "panel"]


def open_surface(page, surface: str):
    """The chat (its section) on the full page, or in the panel opened on the home page."""
    if surface == "page":
        page.goto("/assistant/")
        chat = page.locator("#chat")
    else:
        page.goto("/")
        page.get_by_role("button", name="Assistant", exact=True).click()
        chat = page.get_by_role("complementary", name="Assistant panel").locator("#chat")
    chat.get_by_role("textbox", name="Message").wait_for()
    return chat


def assert_refused_in_place(page, chat, reason: str, *, url: str, title: str) -> None:
    alert = chat.locator("#chat-form-error").get_by_role("alert")
    alert.wait_for()
    assert reason in alert.inner_text()
    # The page is still the page: its URL, title, site header and styles, and the chat.
    assert page.url == url
    assert page.title() == title
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert chat.get_by_role("button", name="Send").is_visible()
    assert alert.evaluate("e => getComputedStyle(e).color") != "rgb(0, 0, 0)"  # styled


def send_next(chat, fake, text: str = "Hello again") -> None:
    """Send a plain message after the refusal: it is answered, and it went out alone."""
    fake.script(Reply(text="Hi."))
    box = chat.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    chat.locator(".message-assistant.status-complete").wait_for()
    sent = [m for m in fake.last_body["messages"] if m["role"] != "system"]
    assert sent == [{"role": "user", "content": text}]
    assert chat.locator("#chat-form-error").inner_text() == ""  # the old reason is gone


@pytest.mark.parametrize("surface", SURFACES)
def test_an_over_long_message_is_refused_in_the_chat(page, app_user, fake_openai, surface):
    add_local_provider(fake_openai)
    log_in(page, "app-user")
    chat = open_surface(page, surface)
    url, title = page.url, page.title()
    box = chat.get_by_role("textbox", name="Message")
    too_long = "x" * (MAX_MESSAGE_CHARS + 1)
    box.fill(too_long)
    box.press("Enter")

    assert_refused_in_place(page, chat, "the limit is 100,000", url=url, title=title)
    assert box.input_value() == too_long  # nothing typed is lost
    assert fake_openai.generation_requests() == []
    assert not Message.objects.exists()
    send_next(chat, fake_openai)


FILES = [
    pytest.param("photo.png", b"this is not a picture", id="fake-png"),
    pytest.param("archive.zip", b"PK\x03\x04" + b"\x00" * 60, id="zip"),
]


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(("name", "content"), FILES)
def test_a_file_that_is_not_accepted_is_refused_in_the_chat(
    page, app_user, fake_openai, tmp_path, surface, name, content
):
    add_local_provider(fake_openai)
    path = tmp_path / name
    path.write_bytes(content)
    log_in(page, "app-user")
    chat = open_surface(page, surface)
    url, title = page.url, page.title()
    files = chat.get_by_label("Attach files")
    files.set_input_files(str(path))
    box = chat.get_by_role("textbox", name="Message")
    box.fill("What is in this file?")
    box.press("Enter")

    assert_refused_in_place(page, chat, f"{name} cannot be attached", url=url, title=title)
    assert box.input_value() == "What is in this file?"
    assert files.evaluate("input => [...input.files].map(f => f.name)") == [name]
    assert fake_openai.generation_requests() == []
    files.set_input_files([])
    send_next(chat, fake_openai)


@pytest.mark.parametrize("surface", SURFACES)
def test_a_model_no_longer_allowed_is_refused_with_the_models_left(
    page, app_user, fake_openai, surface
):
    add_local_provider(fake_openai, name="Staying", display_name="Staying Model")
    add_local_provider(fake_openai, name="Leaving", display_name="Leaving Model")
    log_in(page, "app-user")
    chat = open_surface(page, surface)
    url, title = page.url, page.title()
    chat.get_by_label("Model").select_option(label="Leaving Model")
    CompatibleProvider.objects.filter(name="Leaving").delete()  # an administrator removes it
    bump()
    box = chat.get_by_role("textbox", name="Message")
    box.fill("Which model is this?")
    box.press("Enter")

    assert_refused_in_place(
        page, chat, "That model is not available to you right now", url=url, title=title
    )
    assert box.input_value() == "Which model is this?"
    options = chat.get_by_label("Model").locator("option").all_inner_texts()
    assert [o.strip() for o in options] == ["Staying Model"]
    assert fake_openai.generation_requests() == []
    send_next(chat, fake_openai)


def test_an_empty_rename_in_the_panel_is_refused_in_the_panel(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    conversation = Conversation.objects.create(user=app_user, title="Trip plans")
    Message.objects.create(conversation=conversation, role="user", content="Hi")
    log_in(page, "app-user")
    chat = open_surface(page, "panel")
    url, title = page.url, page.title()
    chat.get_by_text("Rename").click()
    chat.get_by_label("Title").fill("   ")
    chat.get_by_role("button", name="Save").click()

    error = chat.locator(".chat-rename .errorlist")
    error.wait_for()
    assert error.inner_text() == "Give the conversation a title."
    assert page.url == url and page.title() == title
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert chat.locator("#chat-title").inner_text() == "Trip plans"
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"
    assert chat.get_by_role("textbox", name="Message").is_visible()  # still the chat


def test_a_conversation_deleted_elsewhere_is_not_opened_over_the_chat(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    gone = Conversation.objects.create(user=app_user, title="Deleted in another tab")
    Message.objects.create(conversation=gone, role="user", content="Old")
    current = Conversation.objects.create(user=app_user, title="Trip plans")
    Message.objects.create(conversation=current, role="user", content="Hi")
    log_in(page, "app-user")
    chat = open_surface(page, "panel")
    url, title = page.url, page.title()
    chat.get_by_text("Conversations").click()
    gone.delete()
    chat.get_by_role("button", name="Deleted in another tab").click()

    assert_refused_in_place(page, chat, "no longer exists", url=url, title=title)
    assert chat.locator("#chat-title").inner_text() == "Trip plans"
    assert page.get_by_text("Page not found").count() == 0


def test_an_expired_form_in_the_panel_leaves_the_chat_as_it_was(page, app_user, fake_openai):
    add_local_provider(fake_openai)
    conversation = Conversation.objects.create(user=app_user, title="Trip plans")
    Message.objects.create(conversation=conversation, role="user", content="Hi")
    log_in(page, "app-user")
    chat = open_surface(page, "panel")
    url, title = page.url, page.title()
    page.context.clear_cookies(name="csrftoken")  # as after a long pause in another tab
    chat.get_by_text("Rename").click()
    chat.get_by_label("Title").fill("Holiday")
    chat.get_by_role("button", name="Save").click()

    assert_refused_in_place(page, chat, "Reload the page and try again", url=url, title=title)
    assert chat.locator("#chat-title").inner_text() == "Trip plans"
    assert chat.get_by_label("Title").input_value() == "Holiday"
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"


def test_a_prompt_unpublished_meanwhile_is_refused_where_its_fields_go(page, app_user, fake_openai):
    """A 404 of ours (a partial) is shown where it belongs, not taken for an error page."""
    add_local_provider(fake_openai)
    collection = PromptCollection.objects.create(name="Team")
    prompt = Prompt.objects.create(
        collection=collection, name="translate", status=Prompt.Status.PUBLISHED
    )
    AISettings.objects.filter(pk=1).update(prompts_collection=collection)
    bump()
    log_in(page, "app-user")
    chat = open_surface(page, "page")
    chat.get_by_role("button", name="Prompts").click()
    choice = chat.get_by_role("button", name="translate")
    choice.wait_for()
    Prompt.objects.filter(pk=prompt.pk).update(status=Prompt.Status.DRAFT)
    choice.click()

    refusal = chat.locator("#prompt-fields").get_by_role("alert")
    refusal.wait_for()
    assert "translate" in refusal.inner_text()
    assert chat.locator("#chat-form-error").inner_text() == ""
