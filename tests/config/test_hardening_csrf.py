"""CSRF on every state-changing endpoint: each POST door of config/doors.py, posted with CSRF
checks enforced, is refused with 403 without a token (and nothing changes), and let through
with one. /mcp takes no cookies (bearer tokens only), so CSRF does not apply there."""

from __future__ import annotations

import pytest
from django.middleware.csrf import get_token
from django.test import Client
from django.urls import reverse

from assistant.models import Conversation
from config.doors import DOORS
from prompts.models import ApiToken
from tests.support import hardening as setup

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume"),
]

POST_DOORS = [
    pytest.param(name, door, id=f"{name}")
    for name, entries in DOORS.items()
    for door in entries
    if door.changes_state
]


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _token(client: Client) -> str:
    response = client.get(reverse("home"))
    return get_token(response.wsgi_request)


def test_every_post_door_is_checked_here():
    assert len(POST_DOORS) >= 15, "the table lists the state-changing endpoints"


@pytest.mark.parametrize(("name", "door"), POST_DOORS)
def test_post_without_a_csrf_token_is_refused(superuser, name, door):
    setup.active_collection()
    objects = setup.door_objects(superuser)
    path = reverse(name, kwargs={key: objects[value] for key, value in door.kwargs.items()})
    client = _csrf_client(superuser)
    data = setup.fill_data(door.data, objects)

    refused = client.post(path, data)
    assert refused.status_code == 403, f"POST {path} without a CSRF token: {refused.status_code}"
    assert b"CSRF" in refused.content

    token = _token(client)
    allowed = client.post(path, data, HTTP_X_CSRFTOKEN=token)
    if allowed.streaming:
        b"".join(allowed)
    assert allowed.status_code == door.ok, f"POST {path} with a CSRF token"


def test_a_refused_post_changes_nothing(superuser):
    objects = setup.door_objects(superuser)
    client = _csrf_client(superuser)
    conversation = objects["conversation"]
    client.post(reverse("assistant:rename", kwargs={"pk": conversation}), {"title": "Hijacked"})
    client.post(reverse("assistant:delete", kwargs={"pk": objects["spare_conversation"]}))
    client.post(reverse("prompts:revoke_token", kwargs={"token_id": objects["token"]}))
    client.post(reverse("prompts:tokens"), {"name": "planted"})
    assert Conversation.objects.get(pk=conversation).title == "Door test"
    assert Conversation.objects.filter(pk=objects["spare_conversation"]).exists()
    assert ApiToken.objects.get(pk=objects["token"]).revoked_at is None
    assert not ApiToken.objects.filter(name="planted").exists()


def test_a_token_from_another_session_is_refused(superuser, app_user):
    """The token must belong to the session that posts (a forged cross-site form cannot
    bring the victim's token)."""
    objects = setup.door_objects(app_user)
    attacker = _csrf_client(superuser)
    victim = _csrf_client(app_user)
    foreign_token = _token(attacker)
    _token(victim)
    path = reverse("assistant:rename", kwargs={"pk": objects["conversation"]})
    response = victim.post(path, {"title": "Hijacked"}, HTTP_X_CSRFTOKEN=foreign_token)
    assert response.status_code == 403
    assert Conversation.objects.get(pk=objects["conversation"]).title == "Door test"


def test_admin_changes_need_a_csrf_token_too(superuser, app_user):
    client = _csrf_client(superuser)
    path = reverse("admin:auth_user_change", args=[app_user.pk])
    response = client.post(path, {"username": "renamed"})
    assert response.status_code == 403
    app_user.refresh_from_db()
    assert app_user.username == "app-user"
