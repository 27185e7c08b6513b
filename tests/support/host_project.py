"""Code a host project writes itself, named by dotted path in the settings the tests
override: its own CSRF failure view, its own subclass of the htmx middleware."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpResponseForbidden
from django_htmx.middleware import HtmxMiddleware


def csrf_failure_counting_users(request, reason: str = "") -> HttpResponseForbidden:
    """A project's own CSRF_FAILURE_VIEW that reads the database."""
    return HttpResponseForbidden(f"Refused; {get_user_model().objects.count()} accounts exist.")


class HostHtmxMiddleware(HtmxMiddleware):
    """A host's own subclass."""
