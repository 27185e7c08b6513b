"""The database going away in the middle of a chat stream: the user sees an error in the
stream (not a connection cut off without a word), and the worker keeps serving once the
database answers again.

On PostgreSQL (DATABASE_URL set, as .ci/run does) the test's own connection makes the test
database refuse new connections and terminates every other backend (pg_terminate_backend)
while an answer streams through a real uvicorn server, then lets connections back in.
SQLite has no server whose connections can be cut: an open database file cannot be taken
away from a connection that holds it, so there the test is skipped.

Without Redis the turn channel is that same database: the stream's events wait for it (the
worker retries them in order), so there the database comes back while the answer is still
open, and the error shows then.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.utils.module_loading import import_string

from assistant.models import Message
from tests.fakes.script import Reply
from tests.support.chat import add_local_provider
from tests.support.live_server import signed_in_http

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): an SQLite file cannot be taken away mid-stream",
)

SLOW = Reply(text="steady words " * 100, chunk_size=6, delay=0.03)
# Past the loop's PERSIST_TIMEOUT (10 s): the answer has failed to save by then.
COMES_BACK_AFTER = 12.0


def _channel_on_redis() -> bool:
    return issubclass(import_string(settings.CACHES["default"]["BACKEND"]), RedisCache)


def _admin(sql: str, *params: object) -> list[tuple]:
    """Run SQL on the server's maintenance database (a database cannot lock itself out)."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        dbname="postgres",
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    ) as admin:
        cursor = admin.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def _database_goes_away() -> int:
    """The test database refuses new connections and every connection but the test's own is
    cut; returns how many were cut."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        ours = cursor.fetchone()[0]
    _admin(f"ALTER DATABASE {connection.ops.quote_name(name)} ALLOW_CONNECTIONS false")
    [(cut,)] = _admin(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> %s",
        name,
        ours,
    )
    return cut


def _database_comes_back() -> None:
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    _admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


def _post(http: httpx.Client, **data) -> httpx.Response:
    return http.post(
        "/assistant/messages/",
        data=data,
        headers={"X-CSRFToken": http.cookies["csrftoken"], "HX-Request": "true"},
    )


def test_the_database_going_away_mid_stream_shows_an_error_and_the_worker_recovers(
    asgi_server, app_user, fake_openai
):
    model = add_local_provider(fake_openai)
    fake_openai.script(SLOW)
    http = signed_in_http(asgi_server.url, app_user)
    http.timeout = httpx.Timeout(60)  # the server decides how long to wait for the database
    received, gone_at, cut_off = "", 0, False
    try:
        with http.stream(
            "POST",
            "/assistant/messages/",
            data={"message": "Tell me something long", "model": model},
            headers={"X-CSRFToken": http.cookies["csrftoken"], "HX-Request": "true"},
        ) as response:
            assert response.status_code == 200
            try:
                for text in response.iter_text():
                    received += text
                    if not gone_at and received.count("beforeend") > 10:
                        _database_goes_away()
                        gone_at = len(received)
                        if not _channel_on_redis():  # the channel is the database
                            threading.Timer(COMES_BACK_AFTER, _database_comes_back).start()
            except httpx.RemoteProtocolError:
                cut_off = True
        _database_comes_back()
        assert not cut_off, f"the stream was cut off without a word: …{received[-300:]}"
        assert gone_at, "the database went away while the answer streamed"
        later = received[gone_at:]
        if _channel_on_redis():
            assert "status-error" in later and ">Retry</button>" in later, later[-2000:]
        else:  # back in time to store the answer after all, or its error
            failed = "status-error" in later and ">Retry</button>" in later
            assert failed or "status-complete" in later, later[-2000:]
        assert "Traceback" not in received and "OperationalError" not in received

        # The worker serves again: a health check, a page and a whole new answer.
        deadline = time.monotonic() + 10
        while http.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline, "the worker did not recover"
            time.sleep(0.2)
        assert http.get("/assistant/").status_code == 200
        # The worker's connection pool reconnects with a back-off of its own: the first answer
        # after the outage may still fail to save (and says so); one of the next few is stored.
        deadline = time.monotonic() + 60
        while True:
            fake_openai.script(Reply(text="Back to normal."))
            answer = _post(http, message="Are you there?", model=model)
            assert answer.status_code == 200 and "Back to normal." in answer.text
            last = Message.objects.filter(role="assistant").latest("id")
            if (last.status, last.content) == ("complete", "Back to normal."):
                break
            assert "could not be saved" in answer.text, answer.text[-2000:]
            assert time.monotonic() < deadline, "the worker never stored an answer again"
    finally:
        _database_comes_back()
        http.close()
