"""Playwright (Python) driving Debian's /usr/bin/chromium — never a downloaded browser.

Without the browser the browser tests are skipped with one loud line, except under CI=true,
where a missing browser fails the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def _browser_missing_reason() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} not found (make test installs Debian's chromium when run as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Browser tests run last: Playwright's sync API keeps an event loop running in the main
    # thread for as long as the session-wide browser lives, and async tests cannot run then.
    here = str(Path(__file__).parent)
    items.sort(key=lambda item: str(item.fspath).startswith(here))
    reason = _browser_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"Browser tests cannot run under CI: {reason}")
    browser_items = [i for i in items if str(i.fspath).startswith(here)]
    if browser_items:
        print(  # noqa: T201 (the one loud line the docstring promises)
            f"\n!!!!! SKIPPING {len(browser_items)} BROWSER TESTS: {reason} !!!!!\n"
        )
    for item in browser_items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, asgi_server) -> Iterator[object]:
    context = browser.new_context(base_url=asgi_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
