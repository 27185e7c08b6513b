"""The App-access rule, in one place: every AI view is wrapped by one of these decorators.

- AI disabled by the environment (AI_ENABLED=false): 404, as if the URL did not exist.
- Anonymous: a redirect to the login page, or 401 for requests that want JSON, SSE or an
  htmx fragment (a redirect would be swapped into the page).
- Signed in without App access (an API-only account): a 403 page saying what is missing.

Superusers have App access implicitly (Django's has_perm grants them every permission).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url

APP_ACCESS_PERMISSION = "assistant.app_access"
APP_ACCESS_DENIED = (
    "Your account does not have App access, which the AI assistant needs. "
    "An administrator can grant it by adding you to the “App users” group."
)


def ai_enabled() -> bool:
    return bool(settings.AI_ENABLED)


def has_app_access(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(APP_ACCESS_PERMISSION))


def wants_machine_response(request: HttpRequest) -> bool:
    """True for requests that a login page would not help: JSON, SSE and htmx fragments."""
    accept = request.headers.get("Accept", "")
    return (
        "application/json" in accept
        or "text/event-stream" in accept
        or request.headers.get("HX-Request") == "true"
    )


def unauthenticated_response(request: HttpRequest) -> HttpResponse:
    if wants_machine_response(request):
        response = JsonResponse({"error": "Authentication required."}, status=401)
        response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
        return response
    return redirect_to_login(request.get_full_path())


def guard(check: Callable[[HttpRequest], HttpResponse | None]):
    """Turn a check (None = allowed, else the response to send) into a view decorator that
    works on both sync and async views."""

    def decorator(view):
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args, **kwargs):
                refusal = await sync_to_async(check)(request)
                if refusal is not None:
                    return refusal
                return await view(request, *args, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            refusal = check(request)
            if refusal is not None:
                return refusal
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


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
