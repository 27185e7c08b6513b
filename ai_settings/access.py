"""Access rules as view decorators (`guard`, built like Django's user_passes_test, for sync
and async views), and the one for Settings → AI: superusers and holders of
ai_settings.manage_ai_settings. The assistant's App-access rule (assistant.access) is built on
the same pieces.

The Settings → AI pages stay reachable when AI_ENABLED=false (they show a notice and a
disabled form), so the manager rule does not look at AI_ENABLED.
"""

from __future__ import annotations

import functools
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url

from ai_settings.conf import app_settings

MANAGE_PERMISSION = "ai_settings.manage_ai_settings"
MANAGE_DENIED = (
    "Managing AI settings needs the “Can manage AI settings” permission. "
    "A superuser can grant it in Django admin."
)


def ai_enabled() -> bool:
    """False when the environment turned the AI feature off (AI_ENABLED=false)."""
    return bool(app_settings.AI_ENABLED)


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


def has_permission(user: Any, permission: str) -> bool:
    """Signed in, active and holding `permission` (superusers hold every one)."""
    return bool(user.is_authenticated and user.is_active and user.has_perm(permission))


def guard(*, permission: str = "", denied: str = "", needs_ai: bool = False):
    """A view decorator built like Django's user_passes_test, for sync and async views, in
    this order: with `needs_ai`, a 404 when AI_ENABLED=false; anonymous, the login redirect
    (401 for machine requests, unauthenticated_response); signed in without `permission`
    (when one is named), PermissionDenied with `denied` (a 403). An async view's branch
    awaits request.auser() and user.ahas_perm(), which cache on the request and the user."""

    def decorator(view):
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args, **kwargs):
                if needs_ai and not ai_enabled():
                    raise Http404("The AI assistant is disabled.")
                user = await request.auser()
                if not user.is_authenticated:
                    return unauthenticated_response(request)
                if permission and not (user.is_active and await user.ahas_perm(permission)):
                    raise PermissionDenied(denied)
                return await view(request, *args, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if needs_ai and not ai_enabled():
                raise Http404("The AI assistant is disabled.")
            if not request.user.is_authenticated:
                return unauthenticated_response(request)
            if permission and not has_permission(request.user, permission):
                raise PermissionDenied(denied)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def can_manage_ai_settings(user: Any) -> bool:
    return has_permission(user, MANAGE_PERMISSION)


manage_ai_settings_required = guard(permission=MANAGE_PERMISSION, denied=MANAGE_DENIED)
"""For the Settings → AI pages: signed in, with the manager permission (AI enabled or not)."""
