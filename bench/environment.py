"""The environment every bench process shares: production-like settings (DEBUG off, keys set,
plain HTTP on loopback) and a database of its own.

The database is a SQLite file in WAL mode in a temporary folder, or, when DATABASE_URL names
a PostgreSQL server, a fresh database `<name>_bench` on that server. Either is removed at the
end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: only a PostgreSQL bench needs it
    import psycopg

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BenchEnvironment:
    workdir: Path
    database_url: str
    database_label: str
    variables: dict[str, str] = field(default_factory=dict)
    _postgres_name: str | None = None
    _postgres_admin_url: str | None = None

    def apply(self) -> None:
        """Set the variables in this process (before Django is set up)."""
        os.environ.update(self.variables)

    def child_env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.variables, **extra}

    def cleanup(self) -> None:
        if self._postgres_name:
            _drop_postgres(self._postgres_admin_url or "", self._postgres_name)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _postgres_urls(url: str) -> tuple[str, str, str]:
    """(bench database URL, maintenance URL, bench database name) for a PostgreSQL URL."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    bench_name = f"{name}_bench"
    bench_url = urlunsplit(parts._replace(path=f"/{bench_name}"))
    admin_url = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    return bench_url, admin_url, bench_name


def _connect_admin(admin_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    import psycopg

    return psycopg.connect(admin_url, autocommit=True)


def _create_postgres(admin_url: str, name: str) -> None:
    from psycopg import sql

    with _connect_admin(admin_url) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_postgres(admin_url: str, name: str) -> None:
    from psycopg import sql

    with _connect_admin(admin_url) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def prepare() -> BenchEnvironment:
    workdir = Path(tempfile.mkdtemp(prefix="ai-assistant-bench-"))
    secret = secrets.token_urlsafe(40)
    given = os.environ.get("DATABASE_URL", "")
    postgres_name = admin_url = None
    if given.startswith(("postgres://", "postgresql://", "pgsql://")):
        database_url, admin_url, postgres_name = _postgres_urls(given)
        _create_postgres(admin_url, postgres_name)
        label = f"PostgreSQL (a fresh database `{postgres_name}` on the DATABASE_URL server)"
    else:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        label = "SQLite file in WAL mode (synchronous=NORMAL), in a temporary folder"
    variables = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "false",
        "SECRET_KEY": secret,
        "FERNET_KEYS": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "AI_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        # The app's own base URLs are not used: the bench provider is a compatible one.
        "OPENAI_BASE_URL": "",
    }
    return BenchEnvironment(
        workdir=workdir,
        database_url=database_url,
        database_label=label,
        variables=variables,
        _postgres_name=postgres_name,
        _postgres_admin_url=admin_url,
    )


def setup_django() -> None:
    import django

    django.setup()
