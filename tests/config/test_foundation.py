"""The skeleton: App access and AI_ENABLED on every page, the health check, the checks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.django_db

ACCOUNTS = ["anonymous", "api_only_user", "app_user", "settings_manager", "staff_user", "superuser"]


@pytest.fixture
def login_as(client, request):
    def login(account: str):
        if account != "anonymous":
            user = request.getfixturevalue(account)
            client.force_login(user)
        return client

    return login


# Expected status per page and account, with AI on. Redirects to the login page are 302.
PAGE_STATUS = {
    "home": {"anonymous": 302, "default": 200},
    "assistant:index": {
        "anonymous": 302,
        "api_only_user": 403,
        "settings_manager": 403,
        "staff_user": 403,
        "default": 200,
    },
    "ai_settings:settings": {
        "anonymous": 302,
        "settings_manager": 200,
        "superuser": 200,
        "default": 403,
    },
}


@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize("page", list(PAGE_STATUS))
def test_access_matrix_with_ai_enabled(login_as, page, account):
    expected = PAGE_STATUS[page].get(account, PAGE_STATUS[page]["default"])
    response = login_as(account).get(reverse(page))
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("account", ACCOUNTS)
def test_chat_urls_are_404_when_ai_is_disabled(login_as, settings, account):
    settings.AI_ENABLED = False
    response = login_as(account).get(reverse("assistant:index"))
    assert response.status_code == 404


def test_settings_page_shows_disabled_notice_when_ai_is_disabled(client, superuser, settings):
    settings.AI_ENABLED = False
    client.force_login(superuser)
    response = client.get(reverse("ai_settings:settings"))
    assert response.status_code == 200
    assert "disabled by the environment" in response.text


def test_nav_hides_assistant_when_ai_is_disabled(client, app_user, settings):
    client.force_login(app_user)
    assert 'href="/assistant/"' in client.get("/").text
    settings.AI_ENABLED = False
    assert 'href="/assistant/"' not in client.get("/").text


def test_nav_shows_each_account_only_its_links(client, app_user, settings_manager, staff_user):
    client.force_login(app_user)
    page = client.get("/").text
    assert "Settings → AI" not in page and ">Admin<" not in page
    client.force_login(settings_manager)
    page = client.get("/").text
    assert "Settings → AI" in page and 'href="/assistant/"' not in page
    client.force_login(staff_user)
    assert ">Admin<" in client.get("/").text


def test_api_only_account_is_told_app_access_is_missing(client, api_only_user):
    client.force_login(api_only_user)
    response = client.get(reverse("assistant:index"))
    assert response.status_code == 403
    assert "App access" in response.text
    assert "App users" in response.text


def test_anonymous_json_and_sse_requests_get_401_not_a_redirect(client):
    for accept in ("application/json", "text/event-stream"):
        response = client.get(reverse("assistant:index"), HTTP_ACCEPT=accept)
        assert response.status_code == 401


def test_app_users_group_holds_app_access():
    group = Group.objects.get(name="App users")
    assert group.permissions.filter(codename="app_access").exists()


def test_superuser_has_app_access_without_the_group(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("assistant:index")).status_code == 200


def test_login_page_logs_in_with_password(client, app_user):
    response = client.post(reverse("login"), {"username": "app-user", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_pages_load_htmx_4_with_the_sse_extension(client, app_user):
    client.force_login(app_user)
    page = client.get("/").text
    assert "django_htmx/htmx-4" in page and "django_htmx/ext/hx-sse-4" in page
    assert "X-CSRFToken" in page


def test_healthz_reports_ok_with_a_database_round_trip(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from django.db import connection

    def unreachable(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    # Simulate the server going away: the cursor cannot be opened.
    monkeypatch.setattr(connection, "cursor", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503


def _run_check(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_check_reports_missing_secret_and_fernet_keys_in_production():
    result = _run_check({"DEBUG": "false", "SECRET_KEY": "", "FERNET_KEYS": ""})
    assert result.returncode != 0
    assert "ai_settings.E001" in result.stderr and "ai_settings.E002" in result.stderr
    assert "HINT" in result.stderr


def test_check_deploy_is_clean_in_the_documented_production_env():
    result = _run_check(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
            "FERNET_KEYS": "fernet-secret-one",
            "ALLOWED_HOSTS": "ai.example.com",
        },
        "--deploy",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("variable", ["DATABASE_URL", "CACHE_URL"])
def test_wrong_url_setting_is_a_one_line_error_naming_the_variable(variable):
    result = _run_check({variable: "nonsense-scheme://x"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]


def test_ensure_superuser_creates_admin_once_with_a_generated_password(capsys, django_user_model):
    call_command("ensure_superuser")
    first = capsys.readouterr().out
    assert "admin" in first and "password" in first
    call_command("ensure_superuser")
    assert capsys.readouterr().out == ""
    assert django_user_model.objects.filter(is_superuser=True).count() == 1


def test_ensure_superuser_uses_the_environment(monkeypatch, django_user_model):
    monkeypatch.setenv("ADMIN_USERNAME", "boss")
    monkeypatch.setenv("ADMIN_PASSWORD", "a-very-long-password")
    call_command("ensure_superuser")
    assert django_user_model.objects.get(username="boss").check_password("a-very-long-password")
