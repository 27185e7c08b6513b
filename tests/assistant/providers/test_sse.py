"""Server-Sent Events split from body bytes however the bytes arrive (assistant.providers.sse):
what the OpenAI-compatible adapter reads every chunk with."""

from __future__ import annotations

import pytest

from assistant.providers.sse import event_data


async def _data(*pieces: bytes) -> list[bytes]:
    async def body():
        for piece in pieces:
            yield piece

    return [data async for data in event_data(body())]


BODY = b'data: {"a": 1}\n\ndata: {"b": 2}\n\n: keep-alive comment\n\ndata: [DONE]\n\n'


async def test_events_in_one_piece():
    assert await _data(BODY) == [b'{"a": 1}', b'{"b": 2}', b"[DONE]"]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
async def test_events_cut_anywhere_come_out_the_same(size):
    pieces = [BODY[start : start + size] for start in range(0, len(BODY), size)]
    assert await _data(*pieces) == [b'{"a": 1}', b'{"b": 2}', b"[DONE]"]


async def test_crlf_and_cr_line_ends_even_when_a_crlf_is_cut_in_two():
    assert await _data(b"data: one\r", b"\n\r\ndata: two\r\rdata: three\n\n") == [
        b"one",
        b"two",
        b"three",
    ]


async def test_other_fields_are_skipped_and_data_lines_joined():
    body = b"event: message\nid: 7\nretry: 100\ndata: first\ndata:second\n\n"
    assert await _data(body) == [b"first\nsecond"]


async def test_an_event_without_its_blank_line_at_the_end_is_dropped():
    assert await _data(b"data: whole\n\ndata: cut off") == [b"whole"]
