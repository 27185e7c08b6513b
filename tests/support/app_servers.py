"""What the tests that start the app as real server processes share: a database of their own
(beside DATABASE_URL's on PostgreSQL, so the suite's test database is left alone; else an
SQLite file) and the environment the servers run with (the production settings)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]


def _postgres_admin(url: str, sql: str) -> None:
    import psycopg

    admin_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql)


@contextmanager
def own_database(tmp_path: Path, suffix: str) -> Iterator[str]:
    """The URL of a fresh database named after DATABASE_URL's plus `suffix`, dropped after."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / f'{suffix}.sqlite3'}"
        return
    parts = urlsplit(configured)
    name = f"{parts.path.lstrip('/') or 'postgres'}_{suffix}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    _postgres_admin(configured, drop)
    _postgres_admin(configured, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _postgres_admin(configured, drop)


def server_environment(database_url: str) -> dict[str, str]:
    """The production settings, one secret and one database, for every server of a test."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.support.load_settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FERNET_KEYS=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env
