"""Django's built-in middleware, with its hooks run on the event loop under ASGI: the
project's handler loads these in place of the stock classes listed in MIDDLEWARE
(config/handler.py, LOOP_MIDDLEWARE).

Django calls every hook of a synchronous middleware (process_request, process_view,
process_response) through a thread hand-off when it serves ASGI: a dozen hand-offs per
request with this stack, each a wait for the thread and for the interpreter lock, before the
view runs and again before the first byte of a streamed answer leaves. These hooks only read
and write headers, cookies and lazy objects, so here they run on the loop. The two that can
reach the database go to a thread when, and only when, they have something to store: a
changed session, and messages to keep for the next page; so does the CSRF check of a body
large enough to be parsed through files (uploads), or of any request when the project has a
CSRF_FAILURE_VIEW of its own. Under WSGI (and Django's test client) nothing changes.

This relies on CSRF tokens in a cookie (Django's default; CSRF_USE_SESSIONS would read the
session on the loop, and the config.E001 check refuses it).

WhiteNoise's middleware is sync-only, so Django would run the whole chain of every request
in a thread (one OS thread held per open stream); AsyncWhiteNoiseMiddleware answers /static/
the same way and lets every other request stay on the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp import middleware as csp
from django.conf import global_settings, settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from prompts.request_numbers import whole_number

AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]
ResponseHook = Callable[[HttpRequest, HttpResponseBase], HttpResponseBase]


class OnTheLoop(MiddlewareMixin):
    """Mixed in before a MiddlewareMixin subclass: its hooks are called directly in async
    mode. `response_needs_thread` says when process_response must go to a thread."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase | None = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        # __acall__ runs in async mode only, where get_response is a coroutine function.
        get_response = cast(AsyncGetResponse, self.get_response)
        response = response or await get_response(request)
        if hasattr(self, "process_response"):
            process_response: ResponseHook = self.process_response
            if self.response_needs_thread(request, response):
                return await sync_to_async(process_response)(request, response)
            response = process_response(request, response)
        return response


class SecurityMiddleware(OnTheLoop, security.SecurityMiddleware):
    pass


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]  # whitenoise is untyped
    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], Any] | None = None, settings: Any = settings
    ) -> None:
        super().__init__(get_response, settings)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # DEBUG: looks in the file system (finders) on every request
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            served: HttpResponseBase = await sync_to_async(self.serve)(static_file, request)
            return served
        get_response = cast(AsyncGetResponse, self.get_response)
        return await get_response(request)


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(OnTheLoop, csrf.CsrfViewMiddleware):
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django hands a sync process_view to a thread; an async one it awaits.
            check = self.process_view

            async def process_view(
                request: HttpRequest,
                callback: Callable[..., HttpResponseBase],
                callback_args: tuple[Any, ...],
                callback_kwargs: dict[str, Any],
            ) -> HttpResponseBase | None:
                if _big_body(request) or _own_failure_view():
                    return await sync_to_async(check)(
                        request, callback, callback_args, callback_kwargs
                    )
                return check(request, callback, callback_args, callback_kwargs)

            # The same hook, async in async mode; the stubs know only the sync signature.
            self.process_view = process_view  # type: ignore[method-assign,assignment]


def _own_failure_view() -> bool:
    """A project's CSRF_FAILURE_VIEW, which may read the database (Django's renders a template)."""
    return settings.CSRF_FAILURE_VIEW != global_settings.CSRF_FAILURE_VIEW


def _big_body(request: HttpRequest) -> bool:
    """A body Django spools to disk (and whose uploads it writes to files) when parsed."""
    length = whole_number(request.META.get("CONTENT_LENGTH") or "0")
    return length is None or length > settings.FILE_UPLOAD_MAX_MEMORY_SIZE


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    pass  # request.user stays lazy: the first view or check that reads it loads it


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        # Storing may fall back to the session (a database read) when the cookie is full.
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class CSPMiddleware(OnTheLoop, csp.CSPMiddleware):
    pass
