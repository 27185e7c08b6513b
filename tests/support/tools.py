"""Shared pieces for the tool tests: calling a tool as a user, users with exact permissions,
and temporarily registering models in Django admin (collections are admin-registered
models). The fixtures that use them are in tests/assistant/conftest.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import Group

from ai_settings.current import get_current
from assistant.tools import get_tool
from assistant.tools.base import CallPreview, ToolContext, ToolResult
from tests.support.accounts import create_user


def context(user: Any, *, via_mcp: bool = False) -> ToolContext:
    return ToolContext(user=user, current=get_current(), via_mcp=via_mcp)


def run(
    name: str, user: Any, arguments: Any, *, via_mcp: bool = False
) -> tuple[dict[str, Any], ToolResult]:
    tool = get_tool(name)
    assert tool is not None
    result = tool.run(arguments, context(user, via_mcp=via_mcp))
    return json.loads(result.content), result


def preview(name: str, user: Any, arguments: Any) -> CallPreview:
    tool = get_tool(name)
    assert tool is not None
    return tool.preview(arguments, context(user))


def make_user(django_user_model, username: str, *perms: str, **flags: Any):
    return create_user(django_user_model, username, perms=perms, **flags)


@contextmanager
def registered(*models: type) -> Iterator[None]:
    """Register models in admin.site for the duration (if not registered already)."""
    added = [model for model in models if not admin.site.is_registered(model)]
    for model in added:
        admin.site.register(model)
    try:
        yield
    finally:
        for model in added:
            admin.site.unregister(model)


def group_names() -> set[str]:
    return set(Group.objects.values_list("name", flat=True))
