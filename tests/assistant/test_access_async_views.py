"""The access rules on async views, served the way production serves them (Django's async
handler, with the project's event-loop middleware and with the stock one): the same answers
as on sync views, in the same order (the access rule before the method check), with the
user loaded on the event loop by request.auser() and its permissions read in one trip to
the database thread."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.functional import empty

from ai_settings.access import MANAGE_DENIED
from assistant.access import APP_ACCESS_DENIED
from assistant.models import Conversation, Message
from tests.support.loop_client import async_client, both_middleware

pytestmark = [pytest.mark.django_db(transaction=True), both_middleware]

HTMX = {"HX-Request": "true"}


async def _signed_in(middleware: str, user):
    client = async_client(middleware)
    await client.aforce_login(user)
    return client


async def test_an_async_chat_view_is_not_found_while_ai_is_disabled(settings, app_user, middleware):
    settings.AI_ENABLED = False
    client = await _signed_in(middleware, app_user)

    response = await client.post(reverse("assistant:send"), {"message": "hi"})

    assert response.status_code == 404


async def test_an_async_chat_view_sends_anonymous_visitors_to_the_login_page(middleware):
    client = async_client(middleware)
    path = reverse("assistant:send")

    page = await client.post(path, {"message": "hi"})
    fragment = await client.post(path, {"message": "hi"}, headers=HTMX)

    assert page.status_code == 302
    assert page["Location"] == f"{reverse('login')}?next={path}"
    assert fragment.status_code == 401
    assert fragment.json() == {"error": "Authentication required."}
    assert fragment["HX-Redirect"] == reverse("login")


async def test_an_async_chat_view_refuses_an_account_without_app_access(api_only_user, middleware):
    client = await _signed_in(middleware, api_only_user)

    response = await client.post(reverse("assistant:retry"), {"message": "1"})

    assert response.status_code == 403
    assert APP_ACCESS_DENIED in response.content.decode()


async def test_an_async_chat_view_checks_access_before_the_method(app_user, middleware):
    anonymous = async_client(middleware)
    signed_in = await _signed_in(middleware, app_user)
    path = reverse("assistant:send")

    assert (await anonymous.get(path)).status_code == 302
    assert (await signed_in.get(path)).status_code == 405


async def test_an_async_chat_view_loads_the_user_on_the_event_loop_once(app_user, middleware):
    """The rule's user (request.auser()) is the one the view uses: the request's lazy sync
    user is never loaded."""
    conversation = await Conversation.objects.acreate(user=app_user)
    message = await Message.objects.acreate(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )
    client = await _signed_in(middleware, app_user)

    response = await client.post(reverse("assistant:stop", args=[conversation.pk, message.pk]))

    assert response.status_code == 204
    request = response.asgi_request
    assert request._acached_user.pk == app_user.pk
    assert request.user._wrapped is empty
    await message.arefresh_from_db()
    assert message.stop_requested


async def test_an_async_settings_view_keeps_the_manager_rule_with_ai_disabled(
    settings, settings_manager, app_user, middleware
):
    settings.AI_ENABLED = False  # the manager rule does not look at AI_ENABLED
    path = reverse("ai_settings:usage_csv")
    manager = await _signed_in(middleware, settings_manager)
    chat_user = await _signed_in(middleware, app_user)

    allowed = await manager.get(path)
    denied = await chat_user.get(path)
    anonymous = await async_client(middleware).get(path)

    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert MANAGE_DENIED in denied.content.decode()
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
