"""A plain HTTP server that is not a provider: whatever path is asked, it answers `page` (by
default a web page in HTML), and records each request like the fake providers do. For a Base
URL that points at the wrong thing (a website, another API, a 404 page)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.script import Raw
from tests.fakes.server import FakeServer

HOME_PAGE = Raw(
    b"<!doctype html><html><head><title>Welcome</title></head>"
    b"<body><h1>Welcome to our intranet</h1><p>Nothing to see here.</p></body></html>",
    content_type="text/html; charset=utf-8",
)


class FakeWebsite(FakeServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.page: Raw = HOME_PAGE

    def reset(self) -> None:
        super().reset()
        self.page = HOME_PAGE

    def routes(self) -> list[Route]:
        return [Route("/{path:path}", self.answer, methods=["GET", "POST"])]

    async def answer(self, request: Request) -> Response:
        recorded = await self.record(request)
        return self.immediate_response(self.page, recorded)
