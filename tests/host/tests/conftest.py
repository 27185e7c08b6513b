"""The bookshop site, set up the way README.md tells a team: migrated, its data loaded, served
by uvicorn with Django's own ASGI handler, and the offline demo model as its AI provider.

Everything runs in the virtualenv that holds the built wheel (tests/host/run); the test
process reads the same SQLite file through the ORM to check what the site wrote.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_database = Path(tempfile.mkdtemp(prefix="bookshop-")) / "db.sqlite3"
os.environ["DJANGO_DB"] = str(_database)
os.environ["DJANGO_DEBUG"] = "1"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bookshop.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python manage.py …` in the site's virtualenv, as a team would run it (without the
    test process's DJANGO_ALLOW_ASYNC_UNSAFE, which Playwright's sync API needs)."""
    environment = {**os.environ, **(env or {})}
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SITE,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (our own server's http:// URL)
            return
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP error status: the server answers
                return
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def site_database() -> None:
    migrated = manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    loaded = manage("loaddata", "bookshop")
    assert loaded.returncode == 0, loaded.stderr
    import django

    django.setup()


@pytest.fixture(scope="session")
def demo_model() -> Iterator[str]:
    """The offline demo model (this repository's fake OpenAI server): its base URL."""
    port = _free_port()
    command = os.environ["DEMO_FAKE_COMMAND"].format(port=port)
    process = subprocess.Popen(shlex.split(command), cwd=os.environ.get("DEMO_FAKE_CWD"))
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_for(base_url + "/models", process)
        yield base_url
    finally:
        _stop(process)


@dataclass(frozen=True)
class Site:
    url: str


@pytest.fixture(scope="session")
def site(site_database) -> Iterator[Site]:
    """The bookshop served by uvicorn: bookshop.asgi (Django's handler, /mcp mounted)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bookshop.asgi:application", "--port", str(port)],
        cwd=SITE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/accounts/login/", process)
        yield Site(url)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def people(site_database) -> dict[str, object]:
    """An administrator, a clerk who may change books, and a viewer who may only look."""
    from django.contrib.auth.models import Group, Permission, User

    app_users = Group.objects.get(name="App users")  # created by the assistant's migrations
    view_book = Permission.objects.get(codename="view_book")
    change_book = Permission.objects.get(codename="change_book")
    admin = User.objects.create_superuser("owner", "owner@example.com", PASSWORD)
    clerk = User.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    clerk.groups.add(app_users)
    clerk.user_permissions.add(view_book, change_book)
    viewer = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.groups.add(app_users)
    viewer.user_permissions.add(view_book)
    return {"owner": admin, "clerk": clerk, "viewer": viewer}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site) -> Iterator[object]:
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
