"""How a worker serves Django over ASGI (config/handler.py, config/middleware.py):
requests' synchronous work shares a few long-lived threads, and the handler runs the
event-loop versions of the stock middleware listed in MIDDLEWARE. The CSRF and session tests
(and a project's own CSRF failure view) run both ways: with the loop versions and with
Django's stock ASGI path (the apps work without the project's speed layer)."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.db import connection
from django.middleware.csrf import get_token
from django.test import Client
from django.urls import reverse

from assistant.lanes import Lanes
from assistant.models import Conversation
from config.handler import LanedASGIHandler, get_asgi_application
from tests.support.loop_client import async_client, both_middleware


async def _get(handler: LanedASGIHandler, path: str) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)

    await handler(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.django_db(transaction=True)
def test_twenty_requests_at_once_run_their_database_work_on_the_two_lanes():
    handler = LanedASGIHandler(Lanes(2, "django-sync"))
    threads: set[str] = set()

    def record(**kwargs) -> None:
        threads.add(threading.current_thread().name)

    async def twenty() -> list[int]:
        return list(await asyncio.gather(*(_get(handler, "/healthz") for _ in range(20))))

    request_started.connect(record)
    try:
        statuses = asyncio.run(twenty())
    finally:
        request_started.disconnect(record)
        for lane in handler.lanes.lanes:  # the lanes keep their connections; give them back
            # `connection` is per thread: the lambda finds the lane's own, in the lane.
            lane.executor.submit(lambda: connection.close()).result()  # noqa: PLW0108
            lane.executor.shutdown()
    assert statuses == [200] * 20  # /healthz: a database round trip each
    assert len(threads) == 2, threads
    assert all(name.startswith("django-sync-") for name in threads), threads


def test_building_the_app_once_django_is_set_up_leaves_logging_as_it_was():
    """A test run (or any process that set Django up first) keeps its log handlers: setting
    Django up again would bind a new console handler to whatever sys.stderr is now."""
    handlers = list(logging.getLogger().handlers)
    get_asgi_application()
    assert logging.getLogger().handlers == handlers


def test_a_worker_needs_at_least_one_lane():
    with pytest.raises(ValueError, match="at least one thread"):
        Lanes(0, "django-sync")


def adapted_middleware(handler_class, caplog) -> list[str]:
    """The middleware Django reports adapting (a thread hand-off on every request) while it
    builds the handler's chain (it says so in DEBUG)."""
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        handler_class()
    return [r.getMessage() for r in caplog.records if "adapted" in r.getMessage()]


def test_the_asgi_app_runs_every_middleware_on_the_event_loop(settings, caplog):
    settings.DEBUG = True
    assert adapted_middleware(lambda: LanedASGIHandler(Lanes(1, "django-sync")), caplog) == []
    caplog.clear()
    # The stock chain, for contrast: WhiteNoise's middleware is sync-only.
    assert any("WhiteNoise" in message for message in adapted_middleware(ASGIHandler, caplog))


def test_settings_keep_the_stock_middleware_paths(settings):
    """The handler swaps the loop versions in only while it builds its chain."""
    before = list(settings.MIDDLEWARE)
    LanedASGIHandler(Lanes(1, "django-sync"))
    assert settings.MIDDLEWARE == before  # noqa: SIM300 (a setting, not a constant)
    assert not [path for path in before if path.startswith("config.")]


@pytest.mark.parametrize(
    "memory_size",
    [2_621_440, 100],  # Django's default; 100 bytes: every form is a big body (checked in a thread)
)
@both_middleware
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_post_without_a_csrf_token_is_refused_and_changes_nothing(
    app_user, settings, memory_size, middleware
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = memory_size
    conversation = await Conversation.objects.acreate(user=app_user, title="Keep me")
    client = async_client(middleware, enforce_csrf_checks=True)
    await client.aforce_login(app_user)
    path = reverse("assistant:rename", args=[conversation.pk])

    refused = await client.post(path, {"title": "Changed"})
    assert refused.status_code == 403
    assert b"CSRF" in refused.content
    await conversation.arefresh_from_db()
    assert conversation.title == "Keep me"

    page = await client.get(reverse("home"))
    allowed = await client.post(
        path, {"title": "Changed"}, headers={"X-CSRFToken": get_token(page.asgi_request)}
    )
    assert allowed.status_code == 302  # back to the conversation
    await conversation.arefresh_from_db()
    assert conversation.title == "Changed"


@both_middleware
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_signing_in_saves_the_session_and_the_next_page_is_signed_in(
    app_user, middleware
):
    app_user.set_password("a long enough password")
    await app_user.asave()
    client = async_client(middleware)
    signed_in = await client.post(
        reverse("login"), {"username": app_user.username, "password": "a long enough password"}
    )
    assert signed_in.status_code == 302
    page = await client.get(reverse("assistant:index"))
    assert page.status_code == 200
    assert Client().get(reverse("assistant:index")).status_code == 302  # no session, no page


@both_middleware
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_csrf_failure_view_that_reads_the_database_answers(
    app_user, settings, middleware
):
    settings.CSRF_FAILURE_VIEW = "tests.support.host_project.csrf_failure_counting_users"
    conversation = await Conversation.objects.acreate(user=app_user, title="Keep me")
    client = async_client(middleware, enforce_csrf_checks=True)
    await client.aforce_login(app_user)

    refused = await client.post(reverse("assistant:rename", args=[conversation.pk]), {"title": "x"})
    assert refused.status_code == 403
    assert refused.content == b"Refused; 1 accounts exist."
    await conversation.arefresh_from_db()
    assert conversation.title == "Keep me"
