"""The App-access rule, in one place: every AI view is wrapped by one of these decorators.

- AI disabled by the environment (AI_ENABLED=false): 404, as if the URL did not exist.
- Anonymous: a redirect to the login page, or 401 for requests that want JSON, SSE or an
  htmx fragment (a redirect would be swapped into the page).
- Signed in without App access (an API-only account): a 403 page saying what is missing.

Superusers have App access implicitly (Django's has_perm grants them every permission).
"""

from __future__ import annotations

from ai_settings.access import ai_enabled, guard, has_permission
from prompts.users import AnyUser

__all__ = ["ai_enabled", "ai_login_required", "app_access_required", "has_app_access"]

APP_ACCESS_PERMISSION = "assistant.app_access"
APP_ACCESS_DENIED = (
    "Your account does not have App access, which the AI assistant needs. "
    "An administrator can grant it by adding you to the “App users” group."
)


def has_app_access(user: AnyUser) -> bool:
    return has_permission(user, APP_ACCESS_PERMISSION)


app_access_required = guard(
    permission=APP_ACCESS_PERMISSION, denied=APP_ACCESS_DENIED, needs_ai=True
)
"""For every chat view: AI enabled, signed in, App access."""

ai_login_required = guard(needs_ai=True)
"""For AI pages any signed-in user may use (e.g. API tokens for MCP): AI enabled, signed in."""
