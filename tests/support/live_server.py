"""The app under test served for real: free local ports, the ASGI app the live-server tests
serve, uvicorn serving it in a thread of the test process, and signed-in HTTP clients of it."""

from __future__ import annotations

import functools
import os
import socket
import threading
import time

import httpx
from django.test import Client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@functools.cache
def asgi_application():
    """The ASGI app the live-server tests serve: this project's (config.asgi: the laned handler
    with middleware on the event loop), or with ASGI_STACK=stock what a host project runs
    (Django's own handler and middleware, the MCP server mounted with assistant.mcp.asgi)."""
    if os.environ.get("ASGI_STACK") == "stock":
        from django.core.handlers.asgi import ASGIHandler

        from assistant.mcp.asgi import with_mcp

        # get_asgi_application() without its django.setup(): the test run set Django up.
        return with_mcp(ASGIHandler())
    from config.asgi import application

    return application


class AsgiServer:
    """uvicorn serving the app under test in a background thread of the test process, so it
    shares the test database."""

    def __init__(self) -> None:
        import uvicorn

        application = asgi_application()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def signed_in_http(server_url: str, user) -> httpx.Client:
    """An HTTP client of the live server signed in as `user`, with its CSRF cookie."""
    django_client = Client()
    django_client.force_login(user)
    http = httpx.Client(
        base_url=server_url, cookies={"sessionid": django_client.cookies["sessionid"].value}
    )
    http.get("/assistant/").raise_for_status()  # sets the CSRF cookie
    return http


def browser_session(server_url: str, user) -> tuple[dict[str, str], dict[str, str]]:
    """Cookies and headers of a signed-in browser: session cookie, CSRF cookie and token."""
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    page = httpx.get(f"{server_url}/assistant/", cookies=cookies, timeout=10)
    assert page.status_code == 200
    cookies["csrftoken"] = page.cookies["csrftoken"]
    return cookies, {"X-CSRFToken": cookies["csrftoken"], "HX-Request": "true"}
