"""A scripted reply as an OpenAI Responses API event stream (`POST /v1/responses`,
`stream: true`): typed events `response.created` … `response.completed`, each sent as
`event: <type>` + `data: <json>` with a growing `sequence_number`."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.fakes.script import Reply, chunks
from tests.fakes.server import Frame, sse_frame

_ids = itertools.count(1)


def _response(
    body: dict[str, Any], response_id: str, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model", ""),
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": body.get("reasoning"),
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }


async def response_frames(reply: Reply, body: dict[str, Any]) -> AsyncIterator[Frame]:
    seq = itertools.count(0)
    response_id = f"resp_{next(_ids)}"
    wants_encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
    output: list[dict[str, Any]] = []

    def event(kind: str, **fields: Any) -> bytes:
        return sse_frame({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

    yield event("response.created", response=_response(body, response_id, "in_progress", [])), False
    yield (
        event("response.in_progress", response=_response(body, response_id, "in_progress", [])),
        False,
    )

    if reply.reasoning:
        index, item_id = len(output), f"rs_{next(_ids)}"
        yield (
            event(
                "response.output_item.added",
                output_index=index,
                item={"id": item_id, "type": "reasoning", "summary": []},
            ),
            False,
        )
        part = {"type": "summary_text", "text": ""}
        common = {"item_id": item_id, "output_index": index, "summary_index": 0}
        yield event("response.reasoning_summary_part.added", **common, part=part), False
        for piece in reply.reasoning_chunks():
            yield event("response.reasoning_summary_text.delta", **common, delta=piece), True
        yield event("response.reasoning_summary_text.done", **common, text=reply.reasoning), False
        yield (
            event(
                "response.reasoning_summary_part.done",
                **common,
                part={"type": "summary_text", "text": reply.reasoning},
            ),
            False,
        )
        item: dict[str, Any] = {
            "id": item_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": reply.reasoning}],
        }
        if wants_encrypted:
            item["encrypted_content"] = f"enc-{reply.signature}"
        output.append(item)
        yield event("response.output_item.done", output_index=index, item=item), False

    if reply.text:
        index, item_id = len(output), f"msg_{next(_ids)}"
        yield (
            event(
                "response.output_item.added",
                output_index=index,
                item={
                    "id": item_id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            ),
            False,
        )
        common = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield (
            event(
                "response.content_part.added",
                **common,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            ),
            False,
        )
        for piece in reply.text_chunks():
            yield event("response.output_text.delta", **common, delta=piece, logprobs=[]), True
        yield event("response.output_text.done", **common, text=reply.text, logprobs=[]), False
        part = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
        yield event("response.content_part.done", **common, part=part), False
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
        output.append(item)
        yield event("response.output_item.done", output_index=index, item=item), False

    for call in reply.tool_calls:
        index, item_id = len(output), f"fc_{next(_ids)}"
        call_id = call.id or f"call_{next(_ids)}"
        arguments = call.arguments_json()
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": call.name,
            "arguments": "",
        }
        yield event("response.output_item.added", output_index=index, item=item), False
        common = {"item_id": item_id, "output_index": index}
        for piece in chunks(arguments, call.chunk_size):
            yield event("response.function_call_arguments.delta", **common, delta=piece), True
        yield (
            event(
                "response.function_call_arguments.done",
                **common,
                name=call.name,
                arguments=arguments,
            ),
            False,
        )
        item = {**item, "status": "completed", "arguments": arguments}
        output.append(item)
        yield event("response.output_item.done", output_index=index, item=item), False

    if reply.stream_error:
        failed = _response(body, response_id, "failed", output)
        failed["error"] = {"code": "server_error", "message": reply.stream_error}
        yield event("response.failed", response=failed), False
        return

    input_tokens, output_tokens, reasoning_tokens = reply.usage()
    final_status = "completed"
    final = _response(body, response_id, "completed", output)
    if reply.finish_reason == "length":
        final_status = "incomplete"
        final["status"] = "incomplete"
        final["incomplete_details"] = {"reason": "max_output_tokens"}
    final["usage"] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }
    yield event(f"response.{final_status}", response=final), False
