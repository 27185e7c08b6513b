"""Access rules as view decorators (`guard`, built like Django's user_passes_test, for sync
and async views), and the one for Settings → AI: superusers and holders of
ai_settings.manage_ai_settings. The assistant's App-access rule (assistant.access) is built on
the same pieces.

The Settings → AI pages stay reachable when AI_ENABLED=false (they show a notice and a
disabled form), so the manager rule does not look at AI_ENABLED.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
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


def can_manage_ai_settings(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(MANAGE_PERMISSION))


def _check_manager(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return unauthenticated_response(request)
    if not can_manage_ai_settings(request.user):
        raise PermissionDenied(MANAGE_DENIED)
    return None


manage_ai_settings_required = guard(_check_manager)
