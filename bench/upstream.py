"""The bench's upstream: the fake OpenAI-compatible server of tests/fakes, answering every
request with `--chunks` text chunks of `--chunk-size` characters, `--delay` seconds apart,
served without an access log (its printing would cost the fake CPU time on every request).

    python -m bench.upstream --port 8765 --chunks 200 --chunk-size 4 --delay 0 [--first-delay 0.3]

With `--first-delay S` (the upstream of the followed streams) it waits S seconds before the
first text chunk only, and notes when it hands that chunk to its server (`time.time()`, this
machine's clock, which the bench's process reads too), by the tag in the question
(`[bench-tag <32 hex>]`): `GET /bench/first-chunks` answers {tag: seconds since the epoch}.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Reply, demo_reply
from tests.fakes.server import Frame

TAG = re.compile(r"\[bench-tag ([0-9a-f]{32})\]")


def tagged(question: str, tag: str) -> str:
    """The question carrying `tag`, for the fake to name its stamp by."""
    return f"{question} [bench-tag {tag}]"


class BenchUpstream(FakeOpenAI):
    def __init__(self, default: Reply, first_delay: float = 0.0) -> None:
        super().__init__(0, default)
        self.first_delay = first_delay
        self.first_sent: dict[str, float] = {}

    def routes(self) -> list[Route]:
        return [
            *super().routes(),
            Route("/bench/first-chunks", self.first_chunks, methods=["GET"]),
        ]

    async def first_chunks(self, request: Request) -> Response:
        return JSONResponse(self.first_sent)

    async def chat_completions(self, request: Request) -> Response:
        if not self.first_delay:
            return await super().chat_completions(request)
        recorded = await self.record(request)
        body = recorded.body or {}
        item = self.next_item(body)
        if not isinstance(item, Reply):
            return self.immediate_response(item, recorded)
        found = TAG.search(recorded.raw.decode(errors="replace"))
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = self._chat_frames(item, body.get("model", ""), item.report_usage and usage)
        return self.sse(item, self._first_delayed(frames, found.group(1) if found else None))

    async def _first_delayed(
        self, frames: AsyncIterator[Frame], tag: str | None
    ) -> AsyncIterator[Frame]:
        waiting = True
        async for data, is_content in frames:
            if waiting and is_content:
                waiting = False
                await asyncio.sleep(self.first_delay)
                if tag is not None:
                    # Stamped as the chunk goes to the server: its writing to the socket is
                    # still to come, and counts against the relay measured from this stamp.
                    self.first_sent[tag] = time.time()
            yield data, is_content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--first-delay", type=float, default=0.0)
    args = parser.parse_args()
    fake = BenchUpstream(demo_reply(args.chunks, args.chunk_size, args.delay), args.first_delay)
    fake.stop()  # releases the socket it bound; uvicorn binds the bench's port below
    uvicorn.run(
        fake.app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
