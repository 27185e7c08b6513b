"""Shared fixtures: one user for each kind of account, a cache emptied per test, a real
ASGI server (uvicorn in a thread) for tests that need streaming or a browser, and what the
async chat tests share (a local model on the fake, the ORM thread's connections closed)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections

from tests.support.accounts import PASSWORD, create_user
from tests.support.live_server import AsgiServer

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
        database.setdefault("TEST", {})["NAME"] = str(Path(tempfile.gettempdir()) / name)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """The tests' users get MD5 hashes, as Django's testing docs advise: PBKDF2's million
    rounds cost about half a second for every user a test creates or signs in by password."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _lanes_disconnect_at_the_end() -> Iterator[None]:
    """The lanes (assistant.lanes) keep their connections between tests; the test database
    can only be dropped once they are closed."""
    from assistant.lanes import process_lanes

    yield
    for lane in process_lanes().lanes:
        lane.executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    from ai_settings import current, redaction

    cache.clear()
    current.forget()
    redaction.forget()  # each test's secrets are its own: none redacted from the next test
    yield
    cache.clear()
    current.forget()


@pytest.fixture
def api_only_user(db, django_user_model):
    """Signed in, but without App access (an API-only account)."""
    return create_user(django_user_model, "api-only")


@pytest.fixture
def app_user(db, django_user_model):
    return create_user(django_user_model, "app-user", groups=["App users"], first_name="Ada")


@pytest.fixture
def other_app_user(db, django_user_model):
    return create_user(django_user_model, "other-app-user", groups=["App users"])


@pytest.fixture
def settings_manager(db, django_user_model):
    """May manage AI settings; not staff, not a superuser, no App access."""
    return create_user(django_user_model, "manager", perms=["ai_settings.manage_ai_settings"])


@pytest.fixture
def staff_user(db, django_user_model):
    return create_user(django_user_model, "staff", is_staff=True)


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "", PASSWORD)


@pytest.fixture
async def close_orm_thread_connections() -> AsyncIterator[None]:
    """For async tests (pytest.mark.usefixtures): the async ORM's worker thread outlives the
    test; its connection must not. Nor may the turns the test started, or the connections of
    the turn channel its event loop made (on PostgreSQL, two per test otherwise)."""
    from assistant import turn_channel, turn_tasks
    from assistant.lanes import process_lanes

    yield
    await turn_tasks.wait_for_running()
    await turn_channel.close_channel()
    await sync_to_async(connections.close_all)()
    # The turns ran their queries on the process's lanes: each lane's connection is its own.
    for lane in process_lanes().lanes:
        await asyncio.wrap_future(lane.executor.submit(connections.close_all))


@pytest.fixture
async def local_model(fake_openai) -> str:
    """The key of the model of an OpenAI-compatible provider served by the fake."""
    from tests.support.chat import add_local_provider

    return await sync_to_async(add_local_provider)(fake_openai)


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[AsgiServer]:
    server = AsgiServer()
    server.start()
    yield server
    server.stop()
