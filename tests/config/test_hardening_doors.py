"""The door matrix: every URL of the URL conf, and /mcp, as every kind of account, with
AI_ENABLED on and off and the MCP server on and off, against the one table in config/doors.py.

A URL pattern without an entry in that table fails here: a new view cannot ship without its
door written down.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.db import connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from config import doors
from config.doors import ACCOUNTS, ADMIN, ADMIN_INDEX, ADMIN_NAMESPACE, ASGI_DOORS, DOORS
from prompts.tokens import create_token
from tests.support import hardening as setup
from tests.support.live_server import asgi_application
from tests.support.mcp import INITIALIZE, MCP_HEADERS

# The sync test client reads the async CSV stream, which Django warns about.
pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume")

SWITCHES = [
    pytest.param(ai, mcp, id=f"ai-{'on' if ai else 'off'}-mcp-{'on' if mcp else 'off'}")
    for ai, mcp in itertools.product((True, False), (True, False))
]


def url_patterns(resolver: URLResolver | None = None, namespace: str = "", route: str = ""):
    """(namespace, namespaced name or None, route) of every pattern, walking included URL
    confs."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_patterns(pattern, inner, route + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield namespace, name, route + str(pattern.pattern)


def test_every_url_pattern_has_a_door():
    missing = []
    for namespace, name, route in url_patterns():
        if namespace.split(":")[0] == ADMIN_NAMESPACE:
            continue  # one rule for the admin namespace
        if name not in DOORS:
            missing.append(f"/{route} (name {name!r})")
    assert not missing, "URLs without an entry — add them to config/doors.py: " + ", ".join(missing)


def test_every_door_is_a_url_that_still_exists():
    names = {name for _, name, _ in url_patterns()}
    assert not set(DOORS) - names, "config/doors.py lists URLs the URL conf no longer has"


def _client_for(request, account: str) -> Client:
    client = Client()
    user = setup.account(request, account)
    if user is not None:
        client.force_login(user)
    return client


def _request(client: Client, door: doors.Door, path: str, objects: dict):
    if door.query:
        path = f"{path}?{door.query}"
    if door.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, setup.fill_data(door.data, objects))
    if response.streaming:
        b"".join(response)  # consumes an async stream too
    return response


def _expectation_failures(
    request, account: str, ai_enabled: bool, mcp_enabled: bool
) -> Iterator[str]:
    owner = setup.account(request, account) or request.getfixturevalue("app_user")
    objects = setup.door_objects(owner)
    client = _client_for(request, account)
    switches = f"AI {'on' if ai_enabled else 'off'}, MCP {'on' if mcp_enabled else 'off'}"
    # Logging out ends the session the other doors need: last.
    for name, entries in sorted(DOORS.items(), key=lambda item: item[0] == "logout"):
        for door in entries:
            kwargs = {key: objects[value] for key, value in door.kwargs.items()}
            path = reverse(name, kwargs=kwargs)
            expected = door.expected(account, ai_enabled=ai_enabled, mcp_enabled=mcp_enabled)
            response = _request(client, door, path, objects)
            if response.status_code != expected:
                yield (
                    f"{door.method} {path} as {account} ({switches}): expected {expected}, "
                    f"got {response.status_code}"
                )
            elif (
                expected == doors.LOGIN
                and door.rule.on.get(account) == doors.LOGIN
                and not response["Location"].startswith(reverse("login"))
            ):
                yield f"{door.method} {path} as {account}: redirected to {response['Location']}"


@pytest.mark.django_db
@pytest.mark.parametrize(("ai_enabled", "mcp_enabled"), SWITCHES)
@pytest.mark.parametrize("account", ACCOUNTS)
def test_each_door_answers_each_account_as_the_table_says(
    request, settings, account, ai_enabled, mcp_enabled
):
    settings.AI_ENABLED = ai_enabled
    setup.active_collection()
    setup.set_ai(mcp_enabled=mcp_enabled)
    failures = list(_expectation_failures(request, account, ai_enabled, mcp_enabled))
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
def test_another_users_objects_are_not_found(client, app_user, other_app_user):
    """Doors that name an object answer 404 for someone else's, never 403 nor its content."""
    setup.active_collection()
    theirs = setup.door_objects(other_app_user)
    client.force_login(app_user)
    failures = []
    for name, entries in DOORS.items():
        for door in entries:
            refers = set(door.kwargs.values()) | setup.refers_to(door.data)
            owned = refers - {"group", "prompt"}  # not anyone's
            if door.rule is not doors.APP_ACCESS and door.rule is not doors.AI_SIGNED_IN:
                continue
            if not owned:
                continue
            kwargs = {key: theirs[value] for key, value in door.kwargs.items()}
            path = reverse(name, kwargs=kwargs)
            response = _request(client, door, path, theirs)
            if response.status_code != 404:
                failures.append(f"{door.method} {path}: {response.status_code}")
    assert not failures, "another user's object answered: " + ", ".join(failures)


@pytest.mark.django_db
def test_anonymous_htmx_requests_to_app_doors_get_401_not_a_login_page(client):
    setup.active_collection()
    for name, entries in DOORS.items():
        for door in entries:
            if door.rule is not doors.APP_ACCESS or door.kwargs:
                continue
            path = reverse(name)
            response = getattr(client, door.method.lower())(path, HTTP_HX_REQUEST="true")
            assert response.status_code == 401, path
            assert response["HX-Redirect"] == reverse("login")


# Django admin ------------------------------------------------------------------------------


def _admin_pages(superuser) -> list[str]:
    """The index, and the list and one change page of every registered model."""
    from ai_settings.models import GroupAIPolicy, SettingsAuditEntry

    setup.door_objects(superuser)
    setup.active_collection()
    group = setup.app_users_group()
    GroupAIPolicy.objects.get_or_create(group=group)
    SettingsAuditEntry.objects.create(user=superuser, changes=[{"field": "x", "change": "set"}])
    pages = []
    for model, model_admin in admin.site._registry.items():
        admin_name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{admin_name}_changelist"))
        first = model_admin.get_queryset(_SuperuserRequest(superuser)).first()
        assert first is not None, f"no {model.__name__} to open in admin"
        pages.append(reverse(f"{admin_name}_change", args=[first.pk]))
    return pages


class _SuperuserRequest:
    def __init__(self, user) -> None:
        self.user = user


@pytest.mark.django_db
@pytest.mark.parametrize("ai_enabled", [True, False], ids=["ai-on", "ai-off"])
@pytest.mark.parametrize("account", ACCOUNTS)
def test_admin_doors_follow_the_admin_rule(request, settings, superuser, account, ai_enabled):
    settings.AI_ENABLED = ai_enabled
    pages = _admin_pages(superuser)
    client = _client_for(request, account)
    failures = []
    checks = [(reverse("admin:index"), ADMIN_INDEX)] + [(page, ADMIN) for page in pages]
    for page, rule in checks:
        expected = rule.status(account, ai_enabled=ai_enabled, mcp_enabled=True)
        expected = 200 if expected == doors.OK else expected
        response = client.get(page)
        if response.status_code != expected:
            failures.append(f"{page} as {account}: expected {expected}, got {response.status_code}")
        elif expected == doors.LOGIN and not response["Location"].startswith("/admin/login/"):
            failures.append(f"{page} as {account}: redirected to {response['Location']}")
    assert not failures, "\n".join(failures)


def test_every_admin_url_is_in_the_admin_namespace_rule():
    routes = [(namespace, route) for namespace, _, route in url_patterns()]
    admin_routes = [r for namespace, r in routes if r.startswith("admin/")]
    assert admin_routes, "the admin site is mounted"
    outside = [r for namespace, r in routes if r.startswith("admin/") and namespace != "admin"]
    assert not outside, f"admin/ URLs outside the admin namespace rule: {outside}"


# /mcp (config.asgi, outside the URL conf) ---------------------------------------------------


@pytest.fixture
async def _mcp_loop_cleanup():
    application = asgi_application()

    yield
    await application.mcp_app.shutdown()
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("ai_enabled", "mcp_enabled"), SWITCHES)
@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.usefixtures("_mcp_loop_cleanup")
async def test_mcp_door_answers_each_account_as_the_table_says(
    request, settings, account, ai_enabled, mcp_enabled
):
    settings.AI_ENABLED = ai_enabled
    await sync_to_async(setup.set_ai)(mcp_enabled=mcp_enabled)
    user = await sync_to_async(setup.account)(request, account)
    headers = dict(MCP_HEADERS)
    if user is not None:
        _, raw = await sync_to_async(create_token)(user, "door")
        headers["Authorization"] = f"Bearer {raw}"
    failures = []
    for path, entries in ASGI_DOORS.items():
        for door in entries:
            expected = door.expected(account, ai_enabled=ai_enabled, mcp_enabled=mcp_enabled)
            body = setup.jsonrpc("initialize", INITIALIZE["params"]) if door.changes_state else ""
            status, response_headers, _ = await setup.asgi_request(
                door.method, path, headers=headers, body=body
            )
            if status != expected:
                failures.append(
                    f"{door.method} {path} as {account}: expected {expected}, got {status}"
                )
            if (
                status == 401
                and "bearer" not in response_headers.get("www-authenticate", "").lower()
            ):
                failures.append(f"{door.method} {path}: 401 without WWW-Authenticate: Bearer")
    assert not failures, "\n".join(failures)
