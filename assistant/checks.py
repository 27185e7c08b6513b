"""System checks for what a host project must set up for the assistant (README: "Add the
assistant to your Django project"). Middleware is found by class, so a subclass counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

HTMX_MIDDLEWARE = "django_htmx.middleware.HtmxMiddleware"
CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"
CONTEXT_PROCESSOR = "assistant.context_processors.assistant"
REQUEST_CONTEXT_PROCESSOR = "django.template.context_processors.request"
# What the chat's pages load: their own scripts (with a nonce), styles and images (attachment
# previews are data: and blob: URLs), and the stream from the same origin.
CSP_POLICY_HINT = (
    'CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": [SELF], "script-src": [SELF, '
    'NONCE], "style-src": [SELF], "img-src": [SELF, "data:", "blob:"], "connect-src": [SELF], '
    '"object-src": ["\'none\'"], "base-uri": [SELF], "frame-ancestors": ["\'none\'"]}} '
    "with SELF and NONCE from csp.constants, and csp.middleware.CSPMiddleware in MIDDLEWARE."
)


def _installed_middleware() -> list[type]:
    classes = []
    for path in settings.MIDDLEWARE:
        try:
            found = import_string(path)
        except ImportError:
            continue  # Django reports an unimportable middleware itself
        if isinstance(found, type):
            classes.append(found)
    return classes


def _has_middleware(path: str) -> bool:
    wanted = import_string(path)
    return any(issubclass(cls, wanted) for cls in _installed_middleware())


def _context_processors() -> set[str]:
    found: set[str] = set()
    engines: list[dict[str, Any]] = settings.TEMPLATES
    for engine in engines:
        if engine.get("BACKEND") == "django.template.backends.django.DjangoTemplates":
            found.update(engine.get("OPTIONS", {}).get("context_processors", ()))
    return found


@register(Tags.compatibility)
def check_host_setup(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if not _has_middleware(HTMX_MIDDLEWARE):
        problems.append(
            Error(
                "django-htmx's HtmxMiddleware is not in MIDDLEWARE: the chat panel cannot tell "
                "its requests from full page loads.",
                hint=f"Add {HTMX_MIDDLEWARE!r} to MIDDLEWARE (after AuthenticationMiddleware).",
                id="assistant.E001",
            )
        )
    processors = _context_processors()
    if CONTEXT_PROCESSOR not in processors:
        problems.append(
            Error(
                "The assistant's context processor is not in TEMPLATES: pages cannot show the "
                "panel or the Settings → AI link.",
                hint=f"Add {CONTEXT_PROCESSOR!r} to TEMPLATES[0]['OPTIONS']['context_processors'].",
                id="assistant.E002",
            )
        )
    if REQUEST_CONTEXT_PROCESSOR not in processors:
        problems.append(
            Error(
                "Django's request context processor is not in TEMPLATES: the assistant's "
                "templates read the request (the page the panel is on, the CSP nonce).",
                hint=f"Add {REQUEST_CONTEXT_PROCESSOR!r} to the context processors.",
                id="assistant.E003",
            )
        )
    if not _has_middleware(CSP_MIDDLEWARE) or not getattr(
        settings, "CONTENT_SECURITY_POLICY", None
    ):
        problems.append(
            Warning(
                "No Content-Security-Policy is configured: the chat renders model output, and "
                "a policy is its second line of defence against injected scripts.",
                hint=CSP_POLICY_HINT,
                id="assistant.W001",
            )
        )
    return problems
