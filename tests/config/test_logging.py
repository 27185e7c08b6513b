"""One log line per event: the project's server (uvicorn serving config.asgi, DEBUG on as in
`make run`) is started as a subprocess and its stderr read, since a record written twice comes
from the handler configuration, which caplog does not see. Expected refusals (403, 404) log
one line without a traceback; a real 500 logs its traceback, once."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import free_port

PASSWORD = "a long enough password"
CREATE_USER = (
    "from django.contrib.auth.models import User; "
    f"User.objects.create_user('no-app-access', password={PASSWORD!r})"
)


class ServerLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_to = 0

    def after(self, request: Callable[[], httpx.Response], marker: str) -> str:
        """What the server logged for one request: the text written from the request until a
        line with `marker` appeared, and for a moment after (a duplicate would follow)."""
        request()
        deadline = time.monotonic() + 10
        while marker not in self._new() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        text = self._new()
        self.read_to += len(text)
        return text

    def _new(self) -> str:
        return self.path.read_text()[self.read_to :]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[httpx.Client, ServerLog, Path]]:
    folder = tmp_path_factory.mktemp("logging")
    database = folder / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{database}", DEBUG="true", PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "shell", "-c", CREATE_USER], env=env, check=True)
    port = free_port()
    stderr = folder / "stderr.log"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,  # uvicorn's access log
            stderr=errors,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        client.get("/accounts/login/")
        signed_in = client.post(
            "/accounts/login/",
            data={
                "username": "no-app-access",
                "password": PASSWORD,
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        assert signed_in.status_code == 302
        log = ServerLog(stderr)
        log.read_to = len(stderr.read_text())  # uvicorn's start-up lines
        yield client, log, database
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def records(text: str) -> list[str]:
    """The lines that start a log record (LOGGING's format begins with the date)."""
    return [line for line in lines(text) if re.match(r"\d{4}-\d\d-\d\d ", line)]


def test_a_403_logs_one_line_without_a_traceback(server):
    client, log, _ = server
    text = log.after(lambda: client.get("/assistant/"), "Forbidden")
    assert len(lines(text)) == 1, text
    assert re.search(r"WARNING django\.request: Forbidden \(Permission denied\): /assistant/", text)
    assert "Traceback" not in text


def test_a_404_logs_one_line_without_a_traceback(server):
    client, log, _ = server
    text = log.after(lambda: client.get("/no-such-page/"), "Not Found")
    assert len(lines(text)) == 1, text
    assert "WARNING django.request: Not Found: /no-such-page/" in text
    assert "Traceback" not in text


def test_a_csrf_refusal_logs_one_line(server):
    client, log, _ = server
    text = log.after(lambda: client.post("/accounts/logout/"), "Forbidden")
    assert len(lines(text)) == 1, text
    assert "WARNING django.security.csrf: Forbidden (CSRF" in text


def test_a_500_logs_its_traceback_once(server):
    client, log, database = server
    with sqlite3.connect(database) as broken:  # the session table is gone: a real 500
        broken.execute("DROP TABLE django_session")
    text = log.after(lambda: client.get("/assistant/"), "Traceback")
    assert records(text) == [records(text)[0]], text
    assert "ERROR django.request: Internal Server Error: /assistant/" in records(text)[0]
    assert "Traceback (most recent call last)" in text
    # The traceback ends once (a chained exception repeats "Traceback" inside one record).
    assert text.count("django.db.utils.OperationalError: no such table: django_session") == 1
