"""What a fake provider should answer, independent of any wire format.

A test scripts replies in order (`fake.script(Reply(text="Hi"), HttpError(429, retry_after=3))`);
each request to a generation endpoint takes the next one, and unscripted requests get the
server's default reply. Every fake (OpenAI, Anthropic, Gemini) renders the same script in its
own provider's documented streaming format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """A tool call the model makes; its JSON arguments are streamed in `chunk_size` pieces."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    chunk_size: int = 8

    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """A streamed answer: reasoning first, then text, then tool calls, then usage.

    delay: seconds to wait before every streamed chunk.
    stall_after / stall: after that many content chunks, go silent for `stall` seconds.
    drop_after: after that many content chunks, cut the connection (no clean end).
    stream_error: end with the provider's in-stream error event carrying this message
      (e.g. Anthropic's `overloaded_error`), after the content.
    report_usage: False sends no usage at all, even when asked for (chat completions: what
      llama.cpp's server does with `stream_options.include_usage`).
    A content chunk is one piece of reasoning, text or tool-call arguments.
    """

    text: str = ""
    chunk_size: int = 4
    reasoning: str = ""
    tool_calls: tuple[Call, ...] = ()
    input_tokens: int = 11
    output_tokens: int | None = None  # default: the number of content chunks
    reasoning_tokens: int | None = None  # default: the number of reasoning chunks
    finish_reason: str | None = None  # default: "tool_calls" with calls, else "stop"
    delay: float = 0.0
    stall_after: int | None = None
    stall: float = 0.0
    drop_after: int | None = None
    stream_error: str | None = None
    report_usage: bool = True
    signature: str = "c2lnbmF0dXJl"  # Anthropic thinking signature / Gemini thought signature

    def __post_init__(self) -> None:
        if isinstance(self.tool_calls, list):
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    def text_chunks(self) -> list[str]:
        return chunks(self.text, self.chunk_size)

    def reasoning_chunks(self) -> list[str]:
        return chunks(self.reasoning, self.chunk_size)

    def content_chunk_count(self) -> int:
        calls = sum(len(chunks(c.arguments_json(), c.chunk_size)) for c in self.tool_calls)
        return len(self.text_chunks()) + len(self.reasoning_chunks()) + calls

    def usage(self) -> tuple[int, int, int]:
        """(input, output, reasoning) tokens the fake reports."""
        reasoning = self.reasoning_tokens
        if reasoning is None:
            reasoning = len(self.reasoning_chunks())
        output = self.output_tokens
        if output is None:
            output = self.content_chunk_count()
        return self.input_tokens, output, reasoning

    def stop_reason(self) -> str:
        if self.finish_reason:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class HttpError:
    """Answer the request with an HTTP error in the provider's error body format.

    `{key}` in the message is replaced by the API key the request carried, and `{header:Name}`
    by that request header's value, to check that a secret echoed back by a server never
    reaches a user. A Python slice echoes part of it: `{key[:-2]}` (all but the last two
    characters), `{key[10:22]}` (twelve from the middle), `{header:X-Token[2:]}`.

    code: the provider's error code where its format has one (OpenAI's `error.code`, e.g.
    "context_length_exceeded"); by default the one the fake gives that status.
    """

    status: int
    message: str = ""
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None


@dataclass(frozen=True)
class Raw:
    """Answer with these exact bytes (e.g. a malformed stream), whatever the format."""

    body: bytes
    status: int = 200
    content_type: str = "text/event-stream"


ScriptItem = Reply | HttpError | Raw


def chunks(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


DEMO_TEXT = """Here is a short overview of what I can do for you:

## Working with your data
- **Find records** by any field, and summarise what I find.
- **Create and update** entries — I always ask before changing anything important.
- **Explain** how the pieces of your site fit together.

```python
# A tiny example
total = sum(order.amount for order in orders)
```

Ask me anything about your content, and I will look it up with your own permissions.
"""


def demo_reply(chunks_count: int | None = None, chunk_size: int = 4, delay: float = 0.0) -> Reply:
    """The pleasant default answer of `make demo`; or exactly `chunks_count` chunks (bench)."""
    text = DEMO_TEXT
    if chunks_count is not None:
        text = (DEMO_TEXT * (1 + chunks_count * chunk_size // len(DEMO_TEXT)))[
            : chunks_count * chunk_size
        ]
    return Reply(text=text, chunk_size=chunk_size, delay=delay)
