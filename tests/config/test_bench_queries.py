"""The big pages run a fixed number of SQL queries, whatever the size of what they show
(`make bench` measures their speed; these tests hold the query counts).

Each page is rendered once at a small and once at a large size, with the data built by the
bench's own seeding code (bench/seed.py), after one warm-up render (the settings snapshot is
rebuilt on the first request after a change).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import seed

QUERY_LIMIT = 15


def _queries(client, url: str) -> int:
    assert client.get(url).status_code == 200  # warm-up
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.fixture
def manager_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.django_db
def test_settings_ai_page_queries_stay_the_same_from_1_to_200_compatible_models(manager_client):
    seed.configure_ai()
    seed.compatible_providers(1, 1)
    small = _queries(manager_client, "/settings/ai/")

    seed.compatible_providers(9, 20)  # 10 providers; the first has 1 model, the others 20
    large = _queries(manager_client, "/settings/ai/")

    assert large == small
    assert large <= QUERY_LIMIT


@pytest.mark.django_db
def test_chat_page_queries_stay_the_same_from_10_to_500_messages(client, app_user):
    seed.configure_ai()
    seed.compatible_providers(1, 2)
    client.force_login(app_user)
    short = seed.long_conversation(app_user, 10)
    long = seed.long_conversation(app_user, 500)

    small = _queries(client, f"/assistant/c/{short.pk}/")
    large = _queries(client, f"/assistant/c/{long.pk}/")

    assert large == small
    assert large <= QUERY_LIMIT


@pytest.mark.django_db
def test_chat_page_of_500_messages_shows_every_message(client, app_user):
    """The constant count above is not bought by leaving messages out."""
    seed.configure_ai()
    client.force_login(app_user)
    long = seed.long_conversation(app_user, 500)

    page = client.get(f"/assistant/c/{long.pk}/").content.decode()

    assert page.count("how many orders came in this week?") == 250
    assert page.count("Orders this week") == 250


@pytest.mark.django_db
def test_usage_page_queries_stay_the_same_from_50_to_5000_ledger_rows(manager_client):
    seed.configure_ai()
    users = seed.app_users(20)
    seed.ledger(50, users)
    small = _queries(manager_client, "/settings/ai/usage/")

    seed.ledger(4950, users, seed=8)
    large = _queries(manager_client, "/settings/ai/usage/")

    assert large == small
