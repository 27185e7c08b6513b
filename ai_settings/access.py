"""Who may manage AI settings: superusers and holders of ai_settings.manage_ai_settings.

The Settings → AI pages stay reachable when AI_ENABLED=false (they show a notice and a
disabled form), so this rule does not look at AI_ENABLED.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from assistant.access import guard, unauthenticated_response

MANAGE_PERMISSION = "ai_settings.manage_ai_settings"
MANAGE_DENIED = (
    "Managing AI settings needs the “Can manage AI settings” permission. "
    "A superuser can grant it in Django admin."
)


def can_manage_ai_settings(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(MANAGE_PERMISSION))


def _check_manager(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return unauthenticated_response(request)
    if not can_manage_ai_settings(request.user):
        raise PermissionDenied(MANAGE_DENIED)
    return None


manage_ai_settings_required = guard(_check_manager)
