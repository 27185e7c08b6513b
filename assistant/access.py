"""The App-access rule, in one place: every AI view is wrapped by one of these decorators.

- AI disabled by the environment (AI_ENABLED=false): 404, as if the URL did not exist.
- Anonymous: a redirect to the login page, or 401 for requests that want JSON, SSE or an
  htmx fragment (a redirect would be swapped into the page).
- Signed in without App access (an API-only account): a 403 page saying what is missing.

Superusers have App access implicitly (Django's has_perm grants them every permission).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from ai_settings.access import ai_enabled, guard, unauthenticated_response

APP_ACCESS_PERMISSION = "assistant.app_access"
APP_ACCESS_DENIED = (
    "Your account does not have App access, which the AI assistant needs. "
    "An administrator can grant it by adding you to the “App users” group."
)


def has_app_access(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(APP_ACCESS_PERMISSION))


def _check_app_access(request: HttpRequest) -> HttpResponse | None:
    if not ai_enabled():
        raise Http404("The AI assistant is disabled.")
    user = request.user
    if not user.is_authenticated:
        return unauthenticated_response(request)
    if not has_app_access(user):
        raise PermissionDenied(APP_ACCESS_DENIED)
    return None


def _check_signed_in_ai(request: HttpRequest) -> HttpResponse | None:
    if not ai_enabled():
        raise Http404("The AI assistant is disabled.")
    if not request.user.is_authenticated:
        return unauthenticated_response(request)
    return None


app_access_required = guard(_check_app_access)
"""For every chat view: AI enabled, signed in, App access."""

ai_login_required = guard(_check_signed_in_ai)
"""For AI pages any signed-in user may use (e.g. API tokens for MCP): AI enabled, signed in."""
