"""Django's deploy checks security.W001, W002 and W003 look for its own class paths in
MIDDLEWARE; this project installs subclasses of those classes (config/middleware.py), so they
are silenced in settings and this check asks for the same protection by class."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

PROTECTIONS = (
    (SecurityMiddleware, "config.W001", "HSTS, SSL redirect and the other security headers"),
    (XFrameOptionsMiddleware, "config.W002", "the X-Frame-Options header (clickjacking)"),
    (CsrfViewMiddleware, "config.W003", "cross-site request forgery protection"),
)


@register(Tags.security, deploy=True)
def check_security_middleware(app_configs, **kwargs):
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    return [
        Warning(
            f"No {base.__name__} (or subclass) in MIDDLEWARE: the site runs without {what}.",
            hint=f"Add config.middleware.{base.__name__} to MIDDLEWARE.",
            id=check_id,
        )
        for base, check_id, what in PROTECTIONS
        if not any(issubclass(cls, base) for cls in installed if isinstance(cls, type))
    ]
