"""A fake Anthropic API: Messages streaming (`POST /v1/messages`, `stream: true`) and
`GET /v1/models`, in Anthropic's documented wire format: `message_start`, `ping`,
`content_block_start` / `content_block_delta` (`text_delta`, `thinking_delta`,
`signature_delta`, `input_json_delta`) / `content_block_stop`, `message_delta` with the stop
reason and usage, `message_stop`, and `error` events.

The SDK's base URL is the server root (the SDK adds /v1/messages).
    python -m tests.fakes.anthropic_server --port 8766
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import HttpError, Reply, chunks
from tests.fakes.server import FakeServer, Frame, sse_frame, standalone_main

_ids = itertools.count(1)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


class FakeAnthropic(FakeServer):
    default_models = ("claude-sonnet-4-5", "claude-haiku-4-5")

    def routes(self) -> list[Route]:
        return [
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def error_body(self, error: HttpError, message: str) -> dict[str, Any]:
        status = error.status
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": f"req_{next(_ids)}",
        }

    async def list_models(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.models_error is not None:
            return self.error_response(self.models_error, recorded)
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m,
                "created_at": "2025-09-29T00:00:00Z",
            }
            for m in self.models
        ]
        return JSONResponse(
            {
                "data": data,
                "has_more": False,
                "first_id": self.models[0] if self.models else None,
                "last_id": self.models[-1] if self.models else None,
            }
        )

    async def messages(self, request: Request) -> Response:
        recorded = await self.record(request)
        item = self.next_item()
        if not isinstance(item, Reply):
            return self.immediate_response(item, recorded)
        return self.sse(item, self._frames(item, (recorded.body or {}).get("model", "")))

    async def _frames(self, reply: Reply, model: str) -> AsyncIterator[Frame]:
        input_tokens, output_tokens, reasoning_tokens = reply.usage()

        def event(kind: str, **fields: Any) -> bytes:
            return sse_frame({"type": kind, **fields}, event=kind)

        yield (
            event(
                "message_start",
                message={
                    "id": f"msg_{next(_ids)}",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": model,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            ),
            False,
        )
        yield event("ping"), False
        index = 0
        if reply.reasoning:
            yield (
                event(
                    "content_block_start",
                    index=index,
                    content_block={"type": "thinking", "thinking": "", "signature": ""},
                ),
                False,
            )
            for piece in reply.reasoning_chunks():
                yield (
                    event(
                        "content_block_delta",
                        index=index,
                        delta={"type": "thinking_delta", "thinking": piece},
                    ),
                    True,
                )
            yield (
                event(
                    "content_block_delta",
                    index=index,
                    delta={"type": "signature_delta", "signature": reply.signature},
                ),
                False,
            )
            yield event("content_block_stop", index=index), False
            index += 1
        if reply.text:
            yield (
                event(
                    "content_block_start", index=index, content_block={"type": "text", "text": ""}
                ),
                False,
            )
            for piece in reply.text_chunks():
                yield (
                    event(
                        "content_block_delta",
                        index=index,
                        delta={"type": "text_delta", "text": piece},
                    ),
                    True,
                )
            yield event("content_block_stop", index=index), False
            index += 1
        for call in reply.tool_calls:
            yield (
                event(
                    "content_block_start",
                    index=index,
                    content_block={
                        "type": "tool_use",
                        "id": call.id or f"toolu_{next(_ids):04d}",
                        "name": call.name,
                        "input": {},
                    },
                ),
                False,
            )
            yield (
                event(
                    "content_block_delta",
                    index=index,
                    delta={"type": "input_json_delta", "partial_json": ""},
                ),
                False,
            )
            for piece in chunks(call.arguments_json(), call.chunk_size):
                yield (
                    event(
                        "content_block_delta",
                        index=index,
                        delta={"type": "input_json_delta", "partial_json": piece},
                    ),
                    True,
                )
            yield event("content_block_stop", index=index), False
            index += 1
        if reply.stream_error:
            yield (
                event("error", error={"type": "overloaded_error", "message": reply.stream_error}),
                False,
            )
            return
        stop = reply.stop_reason()
        usage: dict[str, Any] = {"output_tokens": output_tokens}
        if reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": reasoning_tokens}
        yield (
            event(
                "message_delta",
                delta={"stop_reason": _STOP_REASONS.get(stop, stop), "stop_sequence": None},
                usage=usage,
            ),
            False,
        )
        yield event("message_stop"), False


def main() -> None:
    standalone_main(FakeAnthropic, "Fake Anthropic server")


if __name__ == "__main__":
    main()
