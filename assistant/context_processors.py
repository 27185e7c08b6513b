"""Template context every page needs: the nav's permissions and the CSP nonce."""

from __future__ import annotations

from django.http import HttpRequest

from ai_settings.access import ai_enabled, can_manage_ai_settings
from assistant.access import has_app_access


def assistant(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    enabled = ai_enabled()
    app_user = bool(user is not None and enabled and has_app_access(user))
    return {
        "ai_enabled": enabled,
        "show_assistant": app_user,
        "can_manage_ai": bool(user is not None and can_manage_ai_settings(user)),
        # django-htmx's {% htmx_script %} reads "csp_nonce" for its <script> tags.
        "csp_nonce": getattr(request, "csp_nonce", None),
    }
