"""What each adapter puts on the wire, in its provider's documented format: the tool-call
round trip (call → result → final text), attachments, the system prompt, and the opaque
reasoning data some providers need back during a tool loop."""

from __future__ import annotations

import base64
import json

import pytest

from assistant.providers.base import AttachmentData, ChatMessage
from assistant.providers.events import Finish, ProviderError, ReasoningDelta, TextDelta, ToolCall
from tests.fakes.harness import SEARCH, Provider, of_type
from tests.fakes.script import Call, Reply

PNG = b"\x89PNG\r\n\x1a\nfake-png-bytes"
PDF = b"%PDF-1.7 fake pdf bytes"
NOTES = b"Meeting notes: ship on Friday."
ATTACHMENTS = (
    AttachmentData("chart.png", "image/png", PNG),
    AttachmentData("report.pdf", "application/pdf", PDF),
    AttachmentData("notes.txt", "text/plain", NOTES),
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def openai(fake_openai) -> Provider:
    return Provider(kind="openai", fake=fake_openai, model_id="gpt-5-mini")


@pytest.fixture
def compatible(fake_openai) -> Provider:
    return Provider(kind="compatible", fake=fake_openai, model_id="qwen3:8b")


@pytest.fixture
def anthropic(fake_anthropic) -> Provider:
    return Provider(kind="anthropic", fake=fake_anthropic, model_id="claude-haiku-4-5")


@pytest.fixture
def google(fake_gemini) -> Provider:
    return Provider(kind="google", fake=fake_gemini, model_id="gemini-2.5-flash")


async def tool_round_trip(provider: Provider, *, reasoning: str = "") -> tuple[list, dict]:
    """Ask, receive two tool calls, send their results, receive the final text."""
    provider.fake.script(
        Reply(
            reasoning=reasoning,
            tool_calls=(
                Call("search_records", {"query": "May invoices"}, id="call_a"),
                Call("search_records", {"query": "unpaid"}, id="call_b"),
            ),
        ),
        Reply(text="You have 2 unpaid invoices."),
    )
    question = ChatMessage(role="user", text="Which invoices are unpaid?")
    first = await provider.run(provider.request(question, tools=(SEARCH,)))
    calls = tuple(of_type(first, ToolCall))
    assert [c.id for c in calls] == ["call_a", "call_b"]
    assert first[-1] == Finish("tool_calls")

    history = (
        question,
        ChatMessage(
            role="assistant",
            reasoning="".join(r.text for r in of_type(first, ReasoningDelta)),
            tool_calls=calls,
        ),
        ChatMessage(
            role="tool", tool_call_id="call_a", tool_name="search_records", text='[{"id": 7}]'
        ),
        ChatMessage(
            role="tool",
            tool_call_id="call_b",
            tool_name="search_records",
            text="Permission denied",
            is_error=True,
        ),
    )
    final = await provider.run(provider.request(*history, tools=(SEARCH,)))
    assert "".join(e.text for e in of_type(final, TextDelta)) == "You have 2 unpaid invoices."
    assert final[-1] == Finish("stop")
    return calls, provider.body


# -- OpenAI Responses API (built-in OpenAI) --------------------------------------------------


async def test_openai_uses_responses_api_with_instructions_and_no_stored_state(openai):
    openai.fake.script(Reply(text="ok"))

    await openai.run(openai.request(system="Be brief."))

    recorded = openai.generation_requests[-1]
    assert recorded.path == "/v1/responses"
    assert recorded.body["instructions"] == "Be brief."
    assert recorded.body["store"] is False
    assert recorded.body["input"] == [{"type": "message", "role": "user", "content": "Hello?"}]
    assert "tools" not in recorded.body


async def test_openai_tool_round_trip_sends_calls_and_outputs_with_reasoning_items(openai):
    _, body = await tool_round_trip(openai, reasoning="Search twice.")

    items = body["input"]
    types = [item.get("type") for item in items]
    assert types == [
        "message",
        "reasoning",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert items[1]["encrypted_content"]  # handed back as OpenAI asks for reasoning models
    assert items[2] == {
        "type": "function_call",
        "call_id": "call_a",
        "name": "search_records",
        "arguments": json.dumps({"query": "May invoices"}),
    }
    assert items[4] == {
        "type": "function_call_output",
        "call_id": "call_a",
        "output": '[{"id": 7}]',
    }
    assert items[5]["call_id"] == "call_b"
    assert body["tools"][0]["name"] == "search_records"
    assert body["tools"][0]["parameters"] == SEARCH.parameters
    assert body["include"] == ["reasoning.encrypted_content"]


async def test_openai_attachments_use_input_image_and_input_file(openai):
    openai.fake.script(Reply(text="ok"))
    message = ChatMessage(role="user", text="Summarise these.", attachments=ATTACHMENTS)

    await openai.run(openai.request(message))

    content = openai.body["input"][0]["content"]
    assert content[0] == {"type": "input_text", "text": "Summarise these."}
    assert content[1] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{b64(PNG)}",
        "detail": "auto",
    }
    assert content[2] == {
        "type": "input_file",
        "filename": "report.pdf",
        "file_data": f"data:application/pdf;base64,{b64(PDF)}",
    }
    assert content[3]["type"] == "input_text"
    assert "notes.txt" in content[3]["text"] and NOTES.decode() in content[3]["text"]


async def test_openai_non_reasoning_model_gets_no_reasoning_parameters(openai):
    openai.fake.script(Reply(text="ok"))

    await openai.run(openai.request(reasoning=False))

    assert "reasoning" not in openai.body and "include" not in openai.body


async def test_openai_reasoning_effort_option_becomes_reasoning_effort(openai):
    openai.fake.script(Reply(text="ok"))

    await openai.run(openai.request(options={"reasoning_effort": "minimal"}))

    assert openai.body["reasoning"] == {"summary": "auto", "effort": "minimal"}
    assert "reasoning_effort" not in openai.body


# -- OpenAI-compatible (chat completions) ----------------------------------------------------


async def test_compatible_uses_chat_completions_with_system_message_and_usage(compatible):
    compatible.fake.script(Reply(text="ok"))

    await compatible.run(compatible.request(system="Be brief."))

    recorded = compatible.generation_requests[-1]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert recorded.body["stream_options"] == {"include_usage": True}


async def test_compatible_tool_round_trip_sends_assistant_tool_calls_and_tool_messages(compatible):
    _, body = await tool_round_trip(compatible)

    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool"]
    assert messages[2]["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "search_records", "arguments": '{"query": "May invoices"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "search_records", "arguments": '{"query": "unpaid"}'},
        },
    ]
    assert messages[3] == {"role": "tool", "tool_call_id": "call_a", "content": '[{"id": 7}]'}
    assert messages[4]["tool_call_id"] == "call_b"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search_records",
                "description": SEARCH.description,
                "parameters": SEARCH.parameters,
            },
        }
    ]


async def test_compatible_attachments_use_image_url_and_file_parts(compatible):
    compatible.fake.script(Reply(text="ok"))
    message = ChatMessage(role="user", text="Summarise these.", attachments=ATTACHMENTS)

    await compatible.run(compatible.request(message))

    content = compatible.body["messages"][1]["content"]
    assert content[0] == {"type": "text", "text": "Summarise these."}
    assert content[1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"},
    }
    assert content[2] == {
        "type": "file",
        "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{b64(PDF)}"},
    }
    assert content[3]["type"] == "text" and NOTES.decode() in content[3]["text"]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_compatible_reasoning_fields_of_local_servers_become_reasoning(compatible, field):
    compatible.fake.reasoning_field = field
    compatible.fake.script(Reply(reasoning="Let me think.", text="Done."))

    events = await compatible.run()

    assert "".join(e.text for e in of_type(events, ReasoningDelta)) == "Let me think."


async def test_compatible_blank_key_sends_a_placeholder(compatible):
    compatible.fake.script(Reply(text="ok"))

    events = await compatible.run(api_key="")

    assert not of_type(events, ProviderError)
    assert compatible.generation_requests[-1].headers["authorization"] == "Bearer not-needed"


# -- Anthropic Messages ----------------------------------------------------------------------


async def test_anthropic_sends_system_prompt_top_level(anthropic):
    anthropic.fake.script(Reply(text="ok"))

    await anthropic.run(anthropic.request(system="Be brief."))

    body = anthropic.body
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello?"}]}]


async def test_anthropic_tool_round_trip_returns_thinking_and_groups_tool_results(anthropic):
    _, body = await tool_round_trip(anthropic, reasoning="Search twice.")

    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assistant = messages[1]["content"]
    assert assistant[0] == {
        "type": "thinking",
        "thinking": "Search twice.",
        "signature": Reply().signature,
    }
    search = {"type": "tool_use", "name": "search_records"}
    assert assistant[1:] == [
        {**search, "id": "call_a", "input": {"query": "May invoices"}},
        {**search, "id": "call_b", "input": {"query": "unpaid"}},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_a", "content": '[{"id": 7}]'},
        {
            "type": "tool_result",
            "tool_use_id": "call_b",
            "content": "Permission denied",
            "is_error": True,
        },
    ]
    assert body["tools"] == [
        {
            "name": "search_records",
            "description": SEARCH.description,
            "input_schema": SEARCH.parameters,
        }
    ]


async def test_anthropic_attachments_use_image_and_document_blocks(anthropic):
    anthropic.fake.script(Reply(text="ok"))
    message = ChatMessage(role="user", text="Summarise these.", attachments=ATTACHMENTS)

    await anthropic.run(anthropic.request(message))

    content = anthropic.body["messages"][0]["content"]
    assert content == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": b64(PDF)},
            "title": "report.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": NOTES.decode()},
            "title": "notes.txt",
        },
        {"type": "text", "text": "Summarise these."},
    ]


async def test_anthropic_thinking_option_is_sent(anthropic):
    anthropic.fake.script(Reply(text="ok"))

    await anthropic.run(
        anthropic.request(options={"thinking": {"type": "enabled", "budget_tokens": 2048}})
    )

    assert anthropic.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


# -- Google Gemini ---------------------------------------------------------------------------


async def test_google_streams_with_sse_and_system_instruction(google):
    google.fake.script(Reply(text="ok"))

    await google.run(google.request(system="Be brief."))

    recorded = google.generation_requests[-1]
    assert recorded.path.endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert recorded.query["alt"] == "sse"
    assert recorded.body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert recorded.body["contents"] == [{"role": "user", "parts": [{"text": "Hello?"}]}]


async def test_google_tool_round_trip_returns_thought_signature_and_function_responses(google):
    _, body = await tool_round_trip(google, reasoning="Search twice.")

    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    model_parts = contents[1]["parts"]
    assert model_parts[0]["functionCall"]["name"] == "search_records"
    assert model_parts[0]["functionCall"]["args"] == {"query": "May invoices"}
    assert model_parts[0]["thoughtSignature"] == Reply().signature
    assert model_parts[1]["functionCall"]["args"] == {"query": "unpaid"}
    assert "thoughtSignature" not in model_parts[1]
    responses = [part["functionResponse"] for part in contents[2]["parts"]]
    assert responses[0]["name"] == "search_records"
    assert responses[0]["response"] == {"result": '[{"id": 7}]'}
    assert responses[1]["response"] == {"error": "Permission denied"}
    assert responses[0]["id"] == "call_a"  # Gemini gave ids, so they go back
    declarations = body["tools"][0]["functionDeclarations"]
    assert declarations[0]["name"] == "search_records"
    declaration = declarations[0]
    schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
    assert schema == SEARCH.parameters


async def test_google_attachments_are_inline_data(google):
    google.fake.script(Reply(text="ok"))
    message = ChatMessage(role="user", text="Summarise these.", attachments=ATTACHMENTS)

    await google.run(google.request(message))

    parts = google.body["contents"][0]["parts"]
    assert parts[0] == {"text": "Summarise these."}
    inline = [part["inlineData"] for part in parts[1:]]
    mime = [d.get("mimeType", d.get("mime_type")) for d in inline]
    assert mime == ["image/png", "application/pdf", "text/plain"]
    assert [base64.b64decode(d["data"]) for d in inline] == [PNG, PDF, NOTES]


async def test_google_reasoning_models_ask_for_thoughts_and_keep_the_budget_option(google):
    google.fake.script(Reply(text="ok"))

    await google.run(google.request(options={"thinking_config": {"thinking_budget": 512}}))

    thinking = google.body["generationConfig"]["thinkingConfig"]
    normalized = {k.replace("_", "").lower(): v for k, v in thinking.items()}
    assert normalized == {"includethoughts": True, "thinkingbudget": 512}


async def test_google_invalid_provider_option_is_a_bad_request_error(google):
    events = await google.run(google.request(options={"no_such_setting": 1}))

    assert len(events) == 1 and events[0].kind == "bad_request"
    assert "no_such_setting" in events[0].message
    assert not google.generation_requests


# -- history written by another provider ------------------------------------------------------

FOREIGN_CALL = ChatMessage(
    role="assistant",
    text="Looking it up.",
    tool_calls=(
        ToolCall("call_x", "search_records", {"query": "x"}, provider_data={"other": "data"}),
    ),
)
FOREIGN_HISTORY = (
    ChatMessage(role="user", text="Find x."),
    FOREIGN_CALL,
    ChatMessage(role="tool", tool_call_id="call_x", tool_name="search_records", text="[]"),
)


async def test_anthropic_replays_tool_calls_of_another_provider_as_plain_blocks(anthropic):
    anthropic.fake.script(Reply(text="Nothing found."))

    await anthropic.run(anthropic.request(*FOREIGN_HISTORY, tools=(SEARCH,)))

    assert anthropic.body["messages"][1]["content"] == [
        {"type": "text", "text": "Looking it up."},
        {"type": "tool_use", "id": "call_x", "name": "search_records", "input": {"query": "x"}},
    ]


async def test_google_marks_tool_calls_of_another_provider_with_the_skip_signature(google):
    google.fake.script(Reply(text="Nothing found."))

    await google.run(google.request(*FOREIGN_HISTORY, tools=(SEARCH,)))

    model_parts = google.body["contents"][1]["parts"]
    assert model_parts[0] == {"text": "Looking it up."}
    assert model_parts[1]["thoughtSignature"] == "skip_thought_signature_validator"
    assert model_parts[1]["functionCall"]["name"] == "search_records"
    response = google.body["contents"][2]["parts"][0]["functionResponse"]
    assert response == {"name": "search_records", "response": {"result": "[]"}}


async def test_openai_replays_tool_calls_of_another_provider_without_reasoning(openai):
    openai.fake.script(Reply(text="Nothing found."))

    await openai.run(openai.request(*FOREIGN_HISTORY, tools=(SEARCH,)))

    assert [item["type"] for item in openai.body["input"]] == [
        "message", "message", "function_call", "function_call_output"
    ]  # fmt: skip


async def test_compatible_max_completion_tokens_option_replaces_max_tokens(compatible):
    compatible.fake.script(Reply(text="ok"))

    await compatible.run(compatible.request(options={"max_completion_tokens": 900}))

    assert compatible.body["max_completion_tokens"] == 900
    assert "max_tokens" not in compatible.body
