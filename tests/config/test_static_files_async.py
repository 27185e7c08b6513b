"""/static/ is answered under ASGI by the project's async WhiteNoise middleware and by the stock
one. (tests/config/test_asgi_handler.py: the project's handler runs the async version, so the
middleware chain stays async and an open chat stream does not hold a thread.)"""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.support.loop_client import async_client, both_middleware

pytestmark = pytest.mark.django_db


@both_middleware
async def test_stylesheet_is_served_under_asgi(middleware):
    response = await async_client(middleware).get("/static/assistant/css/app.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"{" in response.getvalue()


@override_settings(DEBUG=True, WHITENOISE_AUTOREFRESH=True, WHITENOISE_USE_FINDERS=True)
@both_middleware
async def test_stylesheet_is_served_from_the_finders_in_debug(middleware):
    response = await async_client(middleware).get("/static/assistant/css/chat.css")

    assert response.status_code == 200
    assert b"{" in response.getvalue()


@both_middleware
async def test_unknown_static_file_is_a_404(middleware):
    response = await async_client(middleware).get("/static/css/no-such-file.css")

    assert response.status_code == 404
