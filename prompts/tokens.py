"""Personal access tokens for MCP clients: created once, stored as a SHA-256, revocable."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from prompts.models import ApiToken
from prompts.users import User

# "AI assistant token": recognisable in secret scanners and logs (a public prefix, no secret).
TOKEN_PREFIX = "aiat_"  # noqa: S105
PREFIX_LENGTH = 12  # what the tokens page shows to tell tokens apart
# last_used_at is written at most this often per token, not on every MCP request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the raw token, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, token_hash=ApiToken.hash(raw), prefix=raw[:PREFIX_LENGTH]
    )
    return token, raw


def revoke_token(user: User, token_id: int) -> bool:
    """Revoke one of `user`'s own active tokens; False when there is no such token."""
    updated = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return updated == 1


async def aauthenticate(raw: str) -> Any | None:
    """The active user a raw token belongs to, or None (unknown, revoked, user inactive).
    Records the use."""
    if not raw:
        return None
    token = (
        await ApiToken.objects.select_related("user")
        .filter(token_hash=ApiToken.hash(raw), revoked_at__isnull=True)
        .afirst()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    await ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
        pk=token.pk,
    ).aupdate(last_used_at=now)
    return token.user
