"""Settings for the AI assistant. Every value comes from the environment (django-environ).

The embedded defaults give a working development setup: SQLite in the project folder,
a local-memory cache and DEBUG on. Production sets DEBUG=false, SECRET_KEY, FERNET_KEYS,
ALLOWED_HOSTS, DATABASE_URL and CACHE_URL (see README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _from_url(
    variable: str,
    parse: Callable[[str], dict[str, Any]],
    default: str,
    known_backends: set[str],
) -> dict[str, Any]:
    """Parse a URL setting; a bad value stops start-up with one line naming the variable."""
    value = env.str(variable, default=default)
    try:
        config = parse(value)
    except (ImproperlyConfigured, KeyError, ValueError) as error:
        raise SystemExit(f"Invalid {variable}: {error}") from None
    backend = config.get("ENGINE") or config.get("BACKEND")
    if backend not in known_backends:
        scheme = value.partition(":")[0]
        raise SystemExit(f"Invalid {variable}: unsupported scheme {scheme!r}.")
    return config


DEBUG = env.bool("DEBUG", default=True)
# Empty in production means "not configured": the ai_settings.E001 check reports it.
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else "insecure-dev-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# First key encrypts, every key decrypts (rotation: FERNET_KEYS=new,old).
FERNET_KEYS = env.list("FERNET_KEYS", default=[] if not DEBUG else [SECRET_KEY])

AI_ENABLED = env.bool("AI_ENABLED", default=True)

# Built-in providers' endpoints, for corporate gateways and for tests.
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="") or None
GOOGLE_BASE_URL = env.str("GOOGLE_BASE_URL", default="") or None
PROVIDER_CONNECT_TIMEOUT = env.float("PROVIDER_CONNECT_TIMEOUT", default=10.0)
PROVIDER_IDLE_TIMEOUT = env.float("PROVIDER_IDLE_TIMEOUT", default=120.0)
# Threads per worker process that run requests' synchronous code (config/handler.py).
SYNC_THREADS = env.int("SYNC_THREADS", default=4)

INSTALLED_APPS = [
    # The assistant's apps come before django.contrib.admin: their admin/base_site.html adds
    # the chat panel to the admin.
    "ai_settings",
    "assistant",
    "prompts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "config",
    "config.demo_shop",
]

# The stock classes, so Django's checks (check --deploy) see them; under ASGI the project's
# handler runs their event-loop versions in their place (config/handler.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "assistant.context_processors.assistant",
            ],
        },
    },
]

DATABASES = {
    "default": _from_url(
        "DATABASE_URL",
        environ.Env.db_url_config,
        f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        set(environ.Env.DB_SCHEMES.values()),
    )
}
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# SQLite: connections stay open (opening one costs more than most queries); each of a
# worker's SYNC_THREADS threads keeps its own (config/handler.py).
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=None if _SQLITE else 0)
)
if (
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and DATABASES["default"]["CONN_MAX_AGE"] == 0
):
    # A bounded pool per worker process: a burst of requests (hundreds of chat streams
    # starting at once) waits for a free connection instead of failing once PostgreSQL's
    # max_connections is reached.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "pool",
        {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=30.0),
        },
    )
if _SQLITE:
    # WAL and a busy timeout let the stream writer and page readers work at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

CACHES = {
    "default": _from_url(
        "CACHE_URL",
        environ.Env.cache_url_config,
        "locmemcache://",
        set(environ.Env.CACHE_SCHEMES.values()),
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = 110 * 1024 * 1024  # five 20 MB attachments plus the message
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Security headers. Cookies are secure and HSTS is on whenever DEBUG is off.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

from csp.constants import NONCE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": ["'none'"],
        "base-uri": [SELF],
        "frame-ancestors": ["'none'"],
        "form-action": [SELF],
    }
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refusals": {"()": "config.logging_filters.RefusalsWithoutTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["refusals"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default logging gives "django" a console handler of its own (in DEBUG), which
        # wrote each of its records a second time: here they go to the root's handler only.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # httpx logs every request URL at INFO; URLs can carry a Gemini key (?key=).
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # The MCP SDK logs every stateless request's session teardown at INFO.
        "mcp.server.streamable_http": {"level": "WARNING"},
    },
}
