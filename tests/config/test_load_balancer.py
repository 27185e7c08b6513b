"""The multi-host set-up (tests/support/balanced_servers.py) works: haproxy spreads requests
over the two app servers in turn. The turns followed across hosts build on it once the chat
uses the turn channel (assistant.turn_channel)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.balanced_servers import (  # the fixtures, and their type
    Balanced,
    balanced_database_url,  # noqa: F401
    balanced_environment,  # noqa: F401
    balanced_servers,  # noqa: F401
)

pytestmark = pytest.mark.load


def test_requests_through_haproxy_alternate_between_the_two_app_servers(
    balanced_servers: Balanced,  # noqa: F811
):
    balanced = balanced_servers
    with httpx.Client(base_url=balanced.url, timeout=10) as client:  # one kept-alive connection
        served_by = []
        for number in range(6):
            response = client.get(f"/healthz?probe={number}")
            assert response.status_code == 200
            served_by.append(response.headers["X-Served-By"])

    assert served_by in (["app1", "app2"] * 3, ["app2", "app1"] * 3)
    for server in balanced.servers:
        probes = re.findall(r'"GET /healthz\?probe=(\d) HTTP/1\.1" 200', server.log_text())
        expected = [str(n) for n, name in enumerate(served_by) if name == server.name]
        assert probes == expected, server.log_text()[-2000:]
