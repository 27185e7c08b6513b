"""The bench's upstream: the fake OpenAI-compatible server of tests/fakes, answering every
request with `--chunks` text chunks of `--chunk-size` characters, `--delay` seconds apart,
served without an access log (its printing would cost the fake CPU time on every request).

    python -m bench.upstream --port 8765 --chunks 200 --chunk-size 4 --delay 0
"""

from __future__ import annotations

import argparse

import uvicorn

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import demo_reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeOpenAI(0, demo_reply(args.chunks, args.chunk_size, args.delay))
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
