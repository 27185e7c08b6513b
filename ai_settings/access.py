"""Access rules as view decorators (`guard`, built like Django's user_passes_test, for sync
and async views), and the one for Settings → AI: superusers and holders of
ai_settings.manage_ai_settings. The assistant's App-access rule (assistant.access) is built on
the same pieces.

The Settings → AI pages stay reachable when AI_ENABLED=false (they show a notice and a
disabled form), so the manager rule does not look at AI_ENABLED.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url

from ai_settings.conf import app_settings

if TYPE_CHECKING:
    from prompts.users import AnyUser, SignedInRequest

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


def has_permission(user: AnyUser, permission: str) -> bool:
    """Signed in, active and holding `permission` (superusers hold every one)."""
    return bool(user.is_authenticated and user.is_active and user.has_perm(permission))


_P = ParamSpec("_P")
_R = TypeVar("_R", bound=HttpResponseBase)


@dataclass(frozen=True)
class ViewGuard:
    """A view decorator built like Django's user_passes_test, for sync and async views, in
    this order: with `needs_ai`, a 404 when AI_ENABLED=false; anonymous, the login redirect
    (401 for machine requests, unauthenticated_response); signed in without `permission`
    (when one is named), PermissionDenied with `denied` (a 403). An async view's branch
    awaits request.auser() (cached on the request), then checks the permission in one trip
    to the database thread.

    The view it wraps gets a SignedInRequest; the view it makes takes any request and may
    answer with the refusal (an HttpResponse) instead. An async view stays async."""

    permission: str = ""
    denied: str = ""
    needs_ai: bool = False

    @overload
    def __call__(
        self, view: Callable[Concatenate[SignedInRequest, _P], Awaitable[_R]], /
    ) -> Callable[Concatenate[HttpRequest, _P], Coroutine[Any, Any, _R | HttpResponse]]: ...

    @overload
    def __call__(
        self, view: Callable[Concatenate[SignedInRequest, _P], _R], /
    ) -> Callable[Concatenate[HttpRequest, _P], _R | HttpResponse]: ...

    def __call__(
        self, view: Callable[Concatenate[SignedInRequest, _P], Awaitable[_R] | _R], /
    ) -> Callable[Concatenate[HttpRequest, _P], Awaitable[_R | HttpResponse] | _R | HttpResponse]:
        if iscoroutinefunction(view):
            async_view = cast("Callable[Concatenate[SignedInRequest, _P], Awaitable[_R]]", view)

            @functools.wraps(view)
            async def async_wrapper(
                request: HttpRequest, /, *args: _P.args, **kwargs: _P.kwargs
            ) -> _R | HttpResponse:
                if self.needs_ai and not ai_enabled():
                    raise Http404("The AI assistant is disabled.")
                user = await request.auser()
                if not user.is_authenticated:
                    return unauthenticated_response(request)
                # One trip for the user's and their groups' permissions (ahas_perm makes one
                # per query): the chat's send is on the time-to-first-token path.
                if self.permission and not await sync_to_async(has_permission)(
                    user, self.permission
                ):
                    raise PermissionDenied(self.denied)
                return await async_view(cast("SignedInRequest", request), *args, **kwargs)

            return async_wrapper

        sync_view = cast("Callable[Concatenate[SignedInRequest, _P], _R]", view)

        @functools.wraps(view)
        def wrapper(
            request: HttpRequest, /, *args: _P.args, **kwargs: _P.kwargs
        ) -> _R | HttpResponse:
            if self.needs_ai and not ai_enabled():
                raise Http404("The AI assistant is disabled.")
            if not request.user.is_authenticated:
                return unauthenticated_response(request)
            if self.permission and not has_permission(request.user, self.permission):
                raise PermissionDenied(self.denied)
            return sync_view(cast("SignedInRequest", request), *args, **kwargs)

        return wrapper


def guard(*, permission: str = "", denied: str = "", needs_ai: bool = False) -> ViewGuard:
    """The access rule as a view decorator (ViewGuard): `permission` named, signed-in users
    without it get PermissionDenied(`denied`); `needs_ai`, a 404 while AI_ENABLED=false."""
    return ViewGuard(permission, denied, needs_ai)


def can_manage_ai_settings(user: AnyUser) -> bool:
    return has_permission(user, MANAGE_PERMISSION)


manage_ai_settings_required = guard(permission=MANAGE_PERMISSION, denied=MANAGE_DENIED)
"""For the Settings → AI pages: signed in, with the manager permission (AI enabled or not)."""
