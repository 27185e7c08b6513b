"""The data of Server-Sent Events, read straight from a response body.

The openai SDK decodes a stream line by line in Python and builds an event object per line;
for chat completions, where every event is one small JSON chunk, that was most of the CPU a
worker spent per streamed token (`make bench`). Here the body is split on blank lines with
bytes operations, and only `data:` fields are kept: chat-completion streams carry nothing
else that matters (`event:`, `id:`, `retry:` and comment lines are skipped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator


def _data(event: bytes) -> bytes | None:
    """The data of one event (its data lines joined with newlines), or None without any."""
    lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[1:] if line.startswith(b" ") else line for line in lines)


async def event_data(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Each event's data, in order. CRLF and CR line ends count as LF (the SSE rule); an
    event the body ends without its blank line is dropped, as the SSE rule says."""
    pending = b""
    async for piece in body:
        pending += piece
        if b"\r" in pending:
            # A CR at the very end may be the first half of a CRLF: keep it for the next piece.
            held = b"\r" if pending.endswith(b"\r") else b""
            head = pending[:-1] if held else pending
            pending = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + held
        *events, pending = pending.split(b"\n\n")
        for event in events:
            data = _data(event)
            if data is not None:
                yield data
