"""How a worker serves Django over ASGI (config/handler.py, config/middleware.py,
config/checks.py): requests' synchronous work shares a few long-lived threads, the
middleware's hooks run on the event loop, and the deploy checks still ask for the
protections those middleware give."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.signals import request_started
from django.db import connection
from django.middleware.csrf import get_token
from django.test import AsyncClient, Client, override_settings
from django.urls import reverse

from assistant.models import Conversation
from config.handler import LanedASGIHandler


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
    handler = LanedASGIHandler(threads=2)
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
        for lane in handler.lanes:  # the lanes keep their connections; give them back
            lane.executor.submit(lambda: connection.close()).result()
            lane.executor.shutdown()
    assert statuses == [200] * 20  # /healthz: a database round trip each
    assert len(threads) == 2, threads
    assert all(name.startswith("django-sync-") for name in threads), threads


def test_a_worker_needs_at_least_one_lane():
    with pytest.raises(ValueError, match="SYNC_THREADS"):
        LanedASGIHandler(threads=0)


def test_the_deploy_checks_find_the_security_middleware_by_class():
    assert not [m for m in run_checks(include_deployment_checks=True) if m.id.startswith("config.")]
    without = [path for path in settings.MIDDLEWARE if "Csrf" not in path]
    with override_settings(MIDDLEWARE=without):
        ids = {m.id for m in run_checks(include_deployment_checks=True)}
    assert "config.W003" in ids


@pytest.mark.parametrize(
    "memory_size",
    [2_621_440, 100],  # Django's default; 100 bytes: every form is a big body (checked in a thread)
)
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_post_without_a_csrf_token_is_refused_and_changes_nothing(
    app_user, settings, memory_size
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = memory_size
    conversation = await Conversation.objects.acreate(user=app_user, title="Keep me")
    client = AsyncClient(enforce_csrf_checks=True)
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


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_signing_in_saves_the_session_and_the_next_page_is_signed_in(
    app_user,
):
    app_user.set_password("a long enough password")
    await app_user.asave()
    client = AsyncClient()
    signed_in = await client.post(
        reverse("login"), {"username": app_user.username, "password": "a long enough password"}
    )
    assert signed_in.status_code == 302
    page = await client.get(reverse("assistant:index"))
    assert page.status_code == 200
    assert Client().get(reverse("assistant:index")).status_code == 302  # no session, no page
