"""The assistant inside a bookshop site that installed it from the wheel: deploy check, Settings
→ AI, a chat turn in the admin that reads and (after approval) changes a book with the user's
own permissions, the same refused for a user without them, and an MCP tool call."""

from __future__ import annotations

import asyncio
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.conftest import log_in, manage

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_FERNET_KEYS": secrets.token_urlsafe(32),
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
}


def test_deploy_check_is_clean_with_the_production_environment():
    checked = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_deploy_check_reports_missing_fernet_keys_with_a_hint():
    checked = manage("check", "--deploy", env={**PRODUCTION, "DJANGO_FERNET_KEYS": ""})
    assert checked.returncode != 0
    assert "FERNET_KEYS" in checked.stderr


@pytest.fixture(scope="module")
def configured(browser, site, people, demo_model) -> None:
    """The owner adds the demo model on Settings → AI and turns the MCP server on."""
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, "owner")
    page.goto("/settings/ai/")
    page.get_by_role("button", name="Custom").click()
    provider = page.locator("#providers-0")
    provider.wait_for()
    provider.get_by_label("Provider Name").fill("Bookshop demo")
    provider.get_by_label("Base URL").fill(demo_model)
    page.locator("#id_providers-0-models-0-model_id").fill("demo-model")
    page.locator("#id_providers-0-models-0-display_name").fill("Demo model")
    page.get_by_label("Enable MCP server").check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Settings saved.").wait_for()
    context.close()


def test_settings_ai_saves_the_provider(configured):
    from ai_settings.models import AISettings, CompatibleProvider

    provider = CompatibleProvider.objects.get(name="Bookshop demo")
    assert [m.model_id for m in provider.models.all()] == ["demo-model"]
    assert AISettings.load().mcp_enabled


def ask_in_admin_panel(page, text: str):
    """Open the panel on the admin's book list and send `text`; the panel."""
    page.goto("/admin/shop/book/")
    page.get_by_role("button", name="Assistant", exact=True).click()
    panel = page.get_by_role("complementary", name="Assistant panel")
    box = panel.get_by_role("textbox", name="Message")
    box.wait_for()
    box.fill(text)
    box.press("Enter")
    return panel


def test_clerk_lists_the_books_low_in_stock_from_the_admin(configured, page):
    log_in(page, "clerk")
    panel = ask_in_admin_panel(page, "list the books low in stock")
    answer = panel.locator(".message-assistant.status-complete", has_text="in stock:")
    answer.wait_for()
    text = answer.inner_text()
    assert "Dune" in text and "The Left Hand of Darkness" in text and "Kindred" in text
    assert "The Dispossessed" not in text  # 7 in stock


def test_clerk_raises_a_price_after_approving_the_change(configured, page):
    from shop.models import Book

    log_in(page, "clerk")
    panel = ask_in_admin_panel(page, "raise the price of Kindred to 13.50")
    panel.get_by_role("button", name="Approve").click()
    panel.locator(".message-assistant.status-complete", has_text="now costs 13.50").wait_for()
    assert Book.objects.get(title="Kindred").price == Decimal("13.50")


def test_viewer_cannot_raise_a_price(configured, page):
    from shop.models import Book

    log_in(page, "viewer")
    panel = ask_in_admin_panel(page, "raise the price of Dune to 99")
    refused = panel.locator(".message-assistant.status-complete", has_text="could not do that")
    refused.wait_for()
    assert "Permission denied" in refused.inner_text()
    assert Book.objects.get(title="Dune").price == Decimal("9.99")


def test_mcp_client_reads_books_with_a_personal_token(configured, site, people):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from prompts.tokens import create_token

    _, raw = create_token(people["clerk"], "bookshop test")

    async def call() -> dict:
        headers = {"Authorization": f"Bearer {raw}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            streamable_http_client(site.url + "/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool(
                "items",
                {"action": "read", "collection": "shop.book", "fields": ["title", "stock"]},
            )
            return json.loads(result.content[0].text)

    # Playwright's sync API keeps an event loop running in this thread: the client gets its own.
    with ThreadPoolExecutor(max_workers=1) as thread:
        books = thread.submit(asyncio.run, call()).result(timeout=60)
    assert books["total"] == 5
    assert {b["title"] for b in books["items"]} >= {"Dune", "Kindred"}
