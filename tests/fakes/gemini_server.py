"""A fake Gemini API (Google AI Studio, `generativelanguage.googleapis.com`):
`POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and `GET /v1beta/models`, in the
documented wire format: server-sent events whose data is a GenerateContentResponse in JSON
(camelCase: `candidates[].content.parts[]` with `text`, `thought`, `functionCall`,
`thoughtSignature`; `finishReason`; `usageMetadata`). Gemini sends whole function calls
(several in parallel as several parts), never argument fragments.

The SDK's base URL is the server root (`http_options.base_url`).
    python -m tests.fakes.gemini_server --port 8767
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import HttpError, Reply
from tests.fakes.server import FakeServer, Frame, sse_frame, standalone_main

_ids = itertools.count(1)

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


class FakeGemini(FakeServer):
    default_models = ("gemini-2.5-flash", "gemini-2.5-pro")

    def routes(self) -> list[Route]:
        return [
            Route(
                "/{version}/models/{model}:streamGenerateContent",
                self.stream_generate_content,
                methods=["POST"],
            ),
            Route("/{version}/models", self.list_models, methods=["GET"]),
        ]

    def error_body(self, error: HttpError, message: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": error.status,
            "message": message,
            "status": _STATUSES.get(error.status, "UNKNOWN"),
        }
        if error.status == 429 and error.retry_after is not None:
            # Google says how long to wait inside the body too (google.rpc.RetryInfo).
            body["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{error.retry_after}s",
                }
            ]
        return {"error": body}

    async def list_models(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.models_error is not None:
            return self.error_response(self.models_error, recorded)
        return JSONResponse(
            {
                "models": [
                    {
                        "name": f"models/{m}",
                        "version": "001",
                        "displayName": m,
                        "inputTokenLimit": 1048576,
                        "outputTokenLimit": 65536,
                        "supportedGenerationMethods": ["generateContent", "countTokens"],
                    }
                    for m in self.models
                ]
            }
        )

    async def stream_generate_content(self, request: Request) -> Response:
        recorded = await self.record(request)
        item = self.next_item()
        if not isinstance(item, Reply):
            return self.immediate_response(item, recorded)
        return self.sse(item, self._frames(item, request.path_params["model"]))

    async def _frames(self, reply: Reply, model: str) -> AsyncIterator[Frame]:
        response_id = f"resp-{next(_ids)}"
        input_tokens, output_tokens, reasoning_tokens = reply.usage()

        def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            usage: dict[str, Any] = {"promptTokenCount": input_tokens}
            if finish:
                candidate["finishReason"] = finish
                usage = {
                    "promptTokenCount": input_tokens,
                    "candidatesTokenCount": output_tokens - reasoning_tokens,
                    "totalTokenCount": input_tokens + output_tokens,
                }
                if reasoning_tokens:
                    usage["thoughtsTokenCount"] = reasoning_tokens
            else:
                usage["totalTokenCount"] = input_tokens
            data = {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
            return sse_frame(data, crlf=True)

        for piece in reply.reasoning_chunks():
            yield chunk([{"text": piece, "thought": True}]), True
        for piece in reply.text_chunks():
            yield chunk([{"text": piece}]), True
        if reply.tool_calls:
            parts = []
            for index, call in enumerate(reply.tool_calls):
                function_call: dict[str, Any] = {"name": call.name, "args": call.arguments}
                if call.id:
                    function_call["id"] = call.id
                part: dict[str, Any] = {"functionCall": function_call}
                if index == 0:
                    part["thoughtSignature"] = reply.signature
                parts.append(part)
            yield chunk(parts), True
        if reply.stream_error:
            yield (
                sse_frame(
                    {
                        "error": {
                            "code": 503,
                            "message": reply.stream_error,
                            "status": "UNAVAILABLE",
                        }
                    },
                    crlf=True,
                ),
                False,
            )
            return
        stop = reply.stop_reason()
        yield chunk([{"text": ""}], _FINISH.get(stop, stop.upper())), False


def main() -> None:
    standalone_main(FakeGemini, "Fake Gemini server")


if __name__ == "__main__":
    main()
