"""A fake OpenAI API (and any OpenAI-compatible server): chat completions streaming,
Responses API streaming and GET /v1/models, in OpenAI's documented wire format.

Run standalone for `make demo` / `make bench`:
    python -m tests.fakes.openai_server --port 8765 [--chunks 200 --chunk-size 4 --delay 0]
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.demo import demo_answer
from tests.fakes.script import HttpError, Reply, chunks
from tests.fakes.server import FakeServer, Frame, sse_frame, standalone_main

_ids = itertools.count(1)

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class FakeOpenAI(FakeServer):
    api_prefix = "/v1"
    default_models = ("gpt-5", "gpt-5-mini", "gpt-4.1")

    def __init__(self, port: int = 0, default: Reply | None = None) -> None:
        super().__init__(port, default)
        # Where compatible servers put reasoning: "reasoning_content" (DeepSeek, vLLM) or
        # "reasoning" (Ollama, OpenRouter). OpenAI itself never streams reasoning here.
        self.reasoning_field = "reasoning_content"

    def reset(self) -> None:
        super().reset()
        self.reasoning_field = "reasoning_content"

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/responses", self.responses, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def error_body(self, error: HttpError, message: str) -> dict[str, Any]:
        kind, code = _ERROR_TYPES.get(error.status, ("server_error", None))
        code = error.code or code
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    async def list_models(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.models_error is not None:
            return self.error_response(self.models_error, recorded)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
                    for m in self.models
                ],
            }
        )

    # -- chat completions --------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        recorded = await self.record(request)
        item = self.next_item(recorded.body)
        if not isinstance(item, Reply):
            return self.immediate_response(item, recorded)
        body = recorded.body or {}
        include_usage = item.report_usage and bool(
            (body.get("stream_options") or {}).get("include_usage")
        )
        return self.sse(item, self._chat_frames(item, body.get("model", ""), include_usage))

    async def _chat_frames(
        self, reply: Reply, model: str, include_usage: bool
    ) -> AsyncIterator[Frame]:
        completion_id = f"chatcmpl-{next(_ids)}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                data["usage"] = None
            return sse_frame(data)

        yield chunk({"role": "assistant", "content": "", "refusal": None}), False
        for piece in reply.reasoning_chunks():
            yield chunk({self.reasoning_field: piece}), True
        for piece in reply.text_chunks():
            yield chunk({"content": piece}), True
        for index, call in enumerate(reply.tool_calls):
            call_id = call.id or f"call_{next(_ids)}"
            yield (
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        ]
                    }
                ),
                False,
            )
            for piece in chunks(call.arguments_json(), call.chunk_size):
                yield (
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                    True,
                )
        if reply.stream_error:
            yield (
                sse_frame(
                    {"error": {"message": reply.stream_error, "type": "server_error", "code": None}}
                ),
                False,
            )
            return
        yield chunk({}, reply.stop_reason()), False
        if include_usage:
            input_tokens, output_tokens, reasoning_tokens = reply.usage()
            yield (
                sse_frame(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "system_fingerprint": "fp_fake",
                        "choices": [],
                        "usage": {
                            "prompt_tokens": input_tokens,
                            "completion_tokens": output_tokens,
                            "total_tokens": input_tokens + output_tokens,
                            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                            "completion_tokens_details": {
                                "reasoning_tokens": reasoning_tokens,
                                "audio_tokens": 0,
                                "accepted_prediction_tokens": 0,
                                "rejected_prediction_tokens": 0,
                            },
                        },
                    }
                ),
                False,
            )
        yield b"data: [DONE]\n\n", False

    # -- Responses API -----------------------------------------------------------------------

    async def responses(self, request: Request) -> Response:
        recorded = await self.record(request)
        item = self.next_item()
        if not isinstance(item, Reply):
            return self.immediate_response(item, recorded)
        return self.sse(item, self._response_frames(item, recorded.body or {}))

    async def _response_frames(self, reply: Reply, body: dict[str, Any]) -> AsyncIterator[Frame]:
        from tests.fakes.openai_responses import response_frames

        async for frame in response_frames(reply, body):
            yield frame


def main() -> None:
    standalone_main(
        FakeOpenAI,
        "Fake OpenAI-compatible server",
        demo=demo_answer,
    )


if __name__ == "__main__":
    main()
