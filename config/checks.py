"""Settings that the event-loop middleware cannot honour: this project's ASGI handler loads it
in place of the stock classes of MIDDLEWARE (config/handler.py). Django's own checks cover
the rest, as MIDDLEWARE lists the stock classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error, Tags, register

from config.handler import LOOP_MIDDLEWARE

CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"


def _runs_on_the_loop(path: str) -> bool:
    return path in settings.MIDDLEWARE and path in LOOP_MIDDLEWARE


@register(Tags.security, Tags.compatibility)
def check_loop_middleware_settings(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[Error]:
    if settings.CSRF_USE_SESSIONS and _runs_on_the_loop(CSRF_MIDDLEWARE):
        return [
            Error(
                "CSRF_USE_SESSIONS is on, but the CSRF middleware runs on the event loop "
                "under ASGI, where it cannot read the session from the database.",
                hint="Remove CSRF_USE_SESSIONS: CSRF tokens stay in the csrftoken cookie.",
                obj="settings.CSRF_USE_SESSIONS",
                id="config.E001",
            )
        ]
    return []
