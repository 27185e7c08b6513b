"""Security headers on every page the door table lists (and the error pages): a Content
Security Policy with a fresh nonce that every script tag carries, no inline scripts or styles
the policy would block, framing denied, no MIME sniffing, and session cookies out of reach of
scripts. (tests/config/test_security_headers.py covers the production settings: secure
cookies, HSTS; tests/config/test_foundation.py runs `manage.py check --deploy`.)"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from config.doors import DOORS
from tests.support import hardening as setup

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume"),
]

SCRIPT = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def _pages(superuser) -> list[str]:
    setup.active_collection()
    objects = setup.door_objects(superuser)
    pages = []
    for name, entries in DOORS.items():
        for door in entries:
            if door.method == "GET":
                path = reverse(name, kwargs={k: objects[v] for k, v in door.kwargs.items()})
                pages.append(f"{path}?{door.query}" if door.query else path)
    return [*pages, "/no/such/page/"]


def test_every_page_carries_a_csp_that_its_markup_keeps(superuser, api_only_user):
    client = Client()
    client.force_login(superuser)
    forbidden = Client()
    forbidden.force_login(api_only_user)
    problems = []
    checked = 0
    responses = [(page, client.get(page)) for page in _pages(superuser)]
    responses.append(("403 page", forbidden.get(reverse("assistant:index"))))
    for page, response in responses:
        assert response["X-Frame-Options"] == "DENY", page
        assert response["X-Content-Type-Options"] == "nosniff", page
        assert response["Referrer-Policy"] == "same-origin", page
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        checked += 1
        policy = response.get("Content-Security-Policy", "")
        if "unsafe-inline" in policy or "frame-ancestors 'none'" not in policy:
            problems.append(f"{page}: policy {policy!r}")
            continue
        html = response.content.decode()
        # A partial without scripts needs no nonce: its policy allows only 'self' scripts.
        nonce = re.search(r"'nonce-([^']+)'", policy)
        problems.extend(
            f"{page}: script without the policy's nonce: {tag}"
            for tag in SCRIPT.findall(html)
            if nonce is None or f'nonce="{nonce.group(1)}"' not in tag
        )
        for pattern, what in (
            (STYLE_ATTRIBUTE, "style attribute"),
            (EVENT_HANDLER, "inline handler"),
        ):
            problems.extend(f"{page}: {what}: {found[:120]}" for found in pattern.findall(html))
        if re.search(r"<style\b", html, re.IGNORECASE):
            problems.append(f"{page}: a <style> block")
    assert checked >= 10
    assert not problems, "\n".join(problems)


def test_session_and_csrf_cookies_are_not_readable_by_scripts_and_stay_on_site(client, app_user):
    from tests.support.accounts import PASSWORD

    response = client.post(reverse("login"), {"username": "app-user", "password": PASSWORD})
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    page = client.get(reverse("assistant:index"))
    csrf = page.cookies.get("csrftoken") or client.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"


@pytest.mark.django_db(transaction=True)  # answers are stored from a worker thread
def test_the_chat_stream_is_not_cached_nor_buffered(client, app_user, fake_openai):
    from tests.support.chat import add_local_provider

    model = add_local_provider(fake_openai)
    client.force_login(app_user)
    response = client.post(reverse("assistant:send"), {"message": "Hi", "model": model})
    b"".join(response)
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_api_tokens_page_which_shows_a_new_token_is_never_cached(client, app_user):
    client.force_login(app_user)
    response = client.post(reverse("prompts:tokens"), {"name": "laptop"})
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
