"""`manage.py check --deploy` tells the truth: MIDDLEWARE lists Django's stock classes, so
Django's own security checks run with nothing silenced, and config.E001 refuses what the
event-loop middleware cannot honour. (tests/config/test_foundation.py: the documented
production environment passes the deploy check.)"""

from __future__ import annotations

import os
import subprocess
import sys

from django.core.checks import Error, run_checks

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
    "FERNET_KEYS": "fernet-secret-one",
    "ALLOWED_HOSTS": "ai.example.com",
}


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}}
    env.update(PRODUCTION, **overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def deploy_ids() -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True)}


def test_deploy_check_warns_when_hsts_and_the_ssl_redirect_are_off():
    result = check_deploy(SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="false")
    output = result.stdout + result.stderr
    assert "security.W004" in output  # HSTS
    assert "security.W008" in output  # SSL redirect
    assert "(0 silenced)" in output


def test_deploy_check_warns_about_an_insecure_csrf_cookie(settings):
    settings.CSRF_COOKIE_SECURE = False
    assert "security.W016" in deploy_ids()


def test_deploy_check_warns_about_an_insecure_session_cookie(settings):
    settings.SESSION_COOKIE_SECURE = False
    assert "security.W012" in deploy_ids()


def test_deploy_check_warns_when_the_csrf_middleware_is_missing(settings):
    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if "Csrf" not in path]
    assert "security.W003" in deploy_ids()


def test_csrf_tokens_in_sessions_are_an_error_naming_the_fix(settings):
    settings.CSRF_USE_SESSIONS = True
    errors = [message for message in run_checks() if message.id == "config.E001"]
    assert len(errors) == 1 and isinstance(errors[0], Error)
    assert "CSRF_USE_SESSIONS" in errors[0].msg and "Remove CSRF_USE_SESSIONS" in errors[0].hint


def test_csrf_tokens_in_cookies_pass():
    assert "config.E001" not in deploy_ids()
