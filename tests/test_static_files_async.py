"""/static/ is answered by the async WhiteNoise middleware, and the middleware chain stays async
(so an open chat stream does not hold a thread)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import AsyncClient, override_settings
from django.utils.module_loading import import_string

pytestmark = pytest.mark.django_db


async def test_stylesheet_is_served_under_asgi():
    response = await AsyncClient().get("/static/css/app.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"{" in response.getvalue()


@override_settings(DEBUG=True, WHITENOISE_AUTOREFRESH=True, WHITENOISE_USE_FINDERS=True)
async def test_stylesheet_is_served_from_the_finders_in_debug():
    response = await AsyncClient().get("/static/css/chat.css")

    assert response.status_code == 200
    assert b"{" in response.getvalue()


async def test_unknown_static_file_is_a_404():
    response = await AsyncClient().get("/static/css/no-such-file.css")

    assert response.status_code == 404


def test_every_middleware_runs_on_the_event_loop():
    sync_only = [
        path
        for path in settings.MIDDLEWARE
        if not getattr(import_string(path), "async_capable", False)
    ]
    assert sync_only == []
