"""Two app servers behind a real load balancer, for the multi-host tests (marked `load`).

The `balanced_servers` fixture starts two uvicorn processes serving `config.asgi:application`
on two loopback ports, with the production settings (tests/support/load_settings.py) on one database
of their own (a PostgreSQL database beside DATABASE_URL's, or an SQLite file) and the cache
of CACHE_URL, and Debian's haproxy in front of them, round robin (`make test-load` installs
it when run as root; without it the tests are skipped, or fail under CI=true).

haproxy adds `X-Served-By: app1` or `app2` to each response, and each server's access log is
kept (`AppServer.log`): the tests tell the servers apart by those, nothing in the app does.
A request with `X-Pin-Server: app1` (PIN_HEADER) goes to that server whatever the turn of the
round robin, as a sticky session would, even while a slow health check has it marked down:
for the tests that must reach one server in particular through the balancer. A health check
may take 5 s (a server busy with a load test is slow, not dead; a killed one refuses at
once). `Balanced.stop(name)` kills one server (SIGKILL, as a crashed host) for the failover
tests. A test module gives both servers settings of its own, from the environment, by
overriding the `balanced_environment` fixture.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.app_servers import own_database, server_environment
from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY = os.environ.get("HAPROXY_PATH", "/usr/sbin/haproxy")
START_TIMEOUT = 60.0
PIN_HEADER = "X-Pin-Server"

HAPROXY_CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout check 5s

frontend web
    bind 127.0.0.1:{port}
    default_backend apps

backend apps
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header X-Served-By %[srv_name]
{servers}
    force-persist if {{ req.hdr({pin}) -m found }}
{pins}
"""


@dataclass
class AppServer:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Balanced:
    url: str  # haproxy's
    servers: list[AppServer]
    haproxy_log: Path
    env: dict[str, str] = field(repr=False)  # the servers' (their secret key and database)

    def server(self, name: str) -> AppServer:
        return next(server for server in self.servers if server.name == name)

    def stop(self, name: str) -> None:
        """Kill one app server at once (no graceful shutdown), as a host that dies."""
        process = self.server(name).process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def haproxy_missing_reason() -> str | None:
    if Path(HAPROXY).exists() or shutil.which(HAPROXY):
        return None
    return f"{HAPROXY} not found (make test-load installs Debian's haproxy when run as root)"


@pytest.fixture
def balanced_environment() -> dict[str, str]:
    """What both servers get in their environment beside the production settings' (none
    here; a test module overrides this fixture)."""
    return {}


@pytest.fixture
def balanced_database_url(tmp_path: Path) -> Iterator[str]:
    """A database the two servers share."""
    with own_database(tmp_path, "balanced") as url:
        yield url


def _wait_until(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {START_TIMEOUT:.0f} s")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )


def _end(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def balanced_servers(
    balanced_database_url: str, balanced_environment: dict[str, str], tmp_path: Path
) -> Iterator[Balanced]:
    reason = haproxy_missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"The load balancer tests cannot run under CI: {reason}")
        pytest.skip(reason)
    env = {**server_environment(balanced_database_url), **balanced_environment}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    servers = [AppServer(name, free_port(), tmp_path / f"{name}.log") for name in ("app1", "app2")]
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        HAPROXY_CONFIG.format(
            port=port,
            pin=PIN_HEADER,
            servers="\n".join(
                f"    server {s.name} 127.0.0.1:{s.port} check inter 1s" for s in servers
            ),
            pins="\n".join(
                f"    use-server {s.name} if {{ req.hdr({PIN_HEADER}) -m str {s.name} }}"
                for s in servers
            ),
        )
    )
    haproxy_log = tmp_path / "haproxy.log"
    haproxy: subprocess.Popen[bytes] | None = None
    try:
        for server in servers:
            server.process = _start(
                [
                    sys.executable, "-m", "uvicorn", "config.asgi:application",
                    "--host", "127.0.0.1", "--port", str(server.port), "--workers", "1",
                    "--log-level", "info", "--no-server-header",
                ],
                env,
                server.log,
            )  # fmt: skip
        for server in servers:
            assert server.process is not None
            _wait_until(f"{server.url}/healthz", server.process, server.log)
        haproxy = _start([HAPROXY, "-db", "-f", str(config)], env, haproxy_log)
        balanced = Balanced(f"http://127.0.0.1:{port}", servers, haproxy_log, env)
        _wait_until(f"{balanced.url}/healthz", haproxy, haproxy_log)
        yield balanced
    finally:
        _end(haproxy)
        for server in servers:
            _end(server.process)
