"""History sent to the model: trimmed to the context window by estimate, oldest turns first,
the system prompt and the latest turn always kept."""

from __future__ import annotations

from ai_settings.catalog import AvailableModel
from assistant.history import trim
from assistant.providers.base import AttachmentData, ChatMessage
from assistant.token_estimates import estimate_attachment, estimate_message


def model(context_window: int, max_output: int) -> AvailableModel:
    return AvailableModel(
        key="compat-1:m", provider_kind="compatible", provider_key="compat-1",
        provider_label="Local", model_id="m", display_name="M", context_window=context_window,
        max_output=max_output, supports_attachments=True, supports_reasoning=False,
    )  # fmt: skip


def turn(n: int, chars: int) -> list[ChatMessage]:
    return [
        ChatMessage(role="user", text=f"q{n} " + "x" * chars),
        ChatMessage(role="assistant", text=f"a{n} " + "y" * chars),
    ]


def test_history_that_fits_is_sent_whole():
    messages = turn(1, 100) + turn(2, 100) + [ChatMessage(role="user", text="now")]
    result = trim(messages, model=model(10_000, 1_000), system_prompt="Be brief.")
    assert result.messages == tuple(messages)
    assert not result.trimmed


def test_oldest_turns_go_first_when_history_is_too_long():
    # 4,000 chars ≈ 1,000 tokens per message; budget 5,000 - 1,000 = 4,000 tokens.
    messages = turn(1, 4_000) + turn(2, 4_000) + turn(3, 4_000) + [ChatMessage("user", "now?")]
    result = trim(messages, model=model(5_000, 1_000), system_prompt="Be brief.")
    texts = [m.text[:2] for m in result.messages]
    assert result.trimmed
    assert texts[0] != "q1" and "q1" not in texts
    assert texts[-1] == "no"
    assert texts[:2] in (["q2", "a2"], ["q3", "a3"])


def test_the_latest_turn_stays_even_when_it_alone_is_too_long():
    messages = [*turn(1, 100), ChatMessage("user", "z" * 100_000)]
    result = trim(messages, model=model(2_000, 1_000), system_prompt="S")
    assert result.messages == (messages[-1],)
    assert result.trimmed


def test_a_long_system_prompt_leaves_less_room_for_history():
    messages = [*turn(1, 2_000), ChatMessage("user", "now")]
    roomy = trim(messages, model=model(3_000, 1_000), system_prompt="S")
    crowded = trim(messages, model=model(3_000, 1_000), system_prompt="S" * 6_000)
    assert not roomy.trimmed
    assert crowded.trimmed


def test_attachments_count_towards_the_estimate():
    image = AttachmentData("a.png", "image/png", b"\x89PNG" + b"0" * 10)
    text_file = AttachmentData("a.txt", "text/plain", b"w" * 4_000)
    assert estimate_attachment(image) >= 1_000
    assert estimate_attachment(text_file) == 1_000
    bare = ChatMessage("user", "hi")
    assert estimate_message(ChatMessage("user", "hi", attachments=(image,))) > estimate_message(
        bare
    )
