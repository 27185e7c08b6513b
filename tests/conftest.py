"""Shared fixtures: one user for each kind of account, a cache emptied per test, a real
ASGI server (uvicorn in a thread) for tests that need streaming or a browser, and what the
async chat tests share (a local model on the fake, the ORM thread's connections closed)."""

from __future__ import annotations

import functools
import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connections

PASSWORD = "correct horse battery staple"

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """SQLite: test in a database file (one per test process) rather than Django's default
    shared-cache in-memory database, whose table locks make concurrent writers fail at once
    ("database table is locked") where a file in WAL mode waits, as in production."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = f"ai-assistant-test-{os.getpid()}.sqlite3"
        database.setdefault("TEST", {})["NAME"] = os.path.join(tempfile.gettempdir(), name)


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    from ai_settings import current, redaction

    cache.clear()
    current.forget()
    redaction.forget()  # each test's secrets are its own: none redacted from the next test
    yield
    cache.clear()
    current.forget()


def _group(name: str) -> Group:
    group, created = Group.objects.get_or_create(name=name)
    if created and name == "App users":
        # A transactional test's flush removed the group that migration 0002 created.
        group.permissions.add(
            Permission.objects.get(content_type__app_label="assistant", codename="app_access")
        )
    return group


def _make_user(django_user_model, username: str, *, groups=(), perms=(), **flags):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, **flags)
    for name in groups:
        user.groups.add(_group(name))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def api_only_user(db, django_user_model):
    """Signed in, but without App access (an API-only account)."""
    return _make_user(django_user_model, "api-only")


@pytest.fixture
def app_user(db, django_user_model):
    return _make_user(django_user_model, "app-user", groups=["App users"], first_name="Ada")


@pytest.fixture
def other_app_user(db, django_user_model):
    return _make_user(django_user_model, "other-app-user", groups=["App users"])


@pytest.fixture
def settings_manager(db, django_user_model):
    """May manage AI settings; not staff, not a superuser, no App access."""
    return _make_user(django_user_model, "manager", perms=["ai_settings.manage_ai_settings"])


@pytest.fixture
def staff_user(db, django_user_model):
    return _make_user(django_user_model, "staff", is_staff=True)


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "", PASSWORD)


@pytest.fixture
async def close_orm_thread_connections() -> AsyncIterator[None]:
    """For async tests (pytest.mark.usefixtures): the async ORM's worker thread outlives the
    test; its connection must not."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def local_model(fake_openai) -> str:
    """The key of the model of an OpenAI-compatible provider served by the fake."""
    from tests.chat_setup import add_local_provider

    return await sync_to_async(add_local_provider)(fake_openai)


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


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[AsgiServer]:
    server = AsgiServer()
    server.start()
    yield server
    server.stop()
