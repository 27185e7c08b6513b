"""The chat as a user meets it, in a real Chromium: open the panel, pick a model, send, watch
the answer grow, stop one mid-way, reload and find the history."""

from __future__ import annotations

import time

import pytest

from assistant.models import Message
from tests.fakes.script import Reply
from tests.support.browser import log_in
from tests.support.chat import add_local_provider

pytestmark = pytest.mark.browser

GROWING = Reply(text="The quick brown fox jumps over the lazy dog. " * 6, chunk_size=6, delay=0.06)
ENDLESS = Reply(text="Once upon a time " * 200, chunk_size=6, delay=0.05)


def text_lengths_while_streaming(page, selector: str, until: str, timeout: float = 20) -> list[int]:
    """Lengths of the streaming text seen over time, until `until` matches."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(until).count():
            break
        # One read in the page: the streamed text is replaced by the final render at any moment.
        length = page.evaluate(
            "(root, sel) => { const e = root.querySelector(sel);"
            " return e ? e.innerText.length : null; }",
            selector,
        )
        if length is not None and (not seen or seen[-1] != length):
            seen.append(length)
        time.sleep(0.05)
    return seen


def test_open_panel_pick_model_send_watch_stop_reload(page, app_user, fake_openai):
    add_local_provider(fake_openai, name="Local LLM")
    add_local_provider(fake_openai, name="Second LLM", display_name="Second Model")
    fake_openai.script(GROWING, ENDLESS)
    log_in(page, "app-user")

    page.get_by_role("button", name="Assistant", exact=True).click()
    panel = page.get_by_role("complementary", name="Assistant panel")
    message_box = panel.get_by_role("textbox", name="Message")
    message_box.wait_for()
    panel.get_by_label("Model").select_option(label="Second Model")
    message_box.fill("Tell me about foxes")
    message_box.press("Enter")

    question = panel.locator(".message-user").first
    question.wait_for()
    assert question.inner_text().strip() == "Tell me about foxes"
    assert message_box.input_value() == ""
    lengths = text_lengths_while_streaming(
        panel, ".streaming-text", until=".message-assistant.status-complete"
    )
    assert len([n for n in lengths if n > 0]) >= 3, lengths  # it grew in visible steps
    assert lengths == sorted(lengths)
    done = panel.locator(".message-assistant.status-complete")
    done.wait_for()
    assert "The quick brown fox" in done.inner_text()
    assert "Second LLM · local-model" in done.inner_text()

    message_box.fill("Now a very long story")
    message_box.press("Enter")
    streaming = panel.locator(".message-assistant.status-streaming")
    streaming.wait_for()
    page.wait_for_function(
        "() => (document.querySelector('.streaming-text')?.textContent || '').length > 60"
    )
    streaming.get_by_role("button", name="Stop").click()
    stopped = panel.locator(".message-assistant.status-stopped")
    stopped.wait_for(timeout=10_000)
    assert "Stopped." in stopped.inner_text()
    assert "Once upon a time" in stopped.inner_text()
    kept = Message.objects.get(status="stopped").content
    assert 0 < len(kept) < len(ENDLESS.text)

    page.reload()
    page.get_by_role("button", name="Assistant", exact=True).click()
    panel = page.get_by_role("complementary", name="Assistant panel")
    panel.locator(".message-assistant.status-stopped").wait_for()
    history = panel.get_by_role("log", name="Messages").inner_text()
    assert "Tell me about foxes" in history
    assert "The quick brown fox" in history
    assert "Now a very long story" in history
    assert "Stopped." in history
    assert panel.get_by_label("Model").evaluate("s => s.selectedOptions[0].text") == "Second Model"
