"""Which page the chat panel was opened on, and the admin object it shows, if any: the user
can attach "this page: Prompt #12" to a message as context for the model."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.urls import Resolver404, resolve


def _path_of(url: str) -> str:
    path = urlsplit(url or "").path or ""
    return path if path.startswith("/") else ""


def admin_object(url: str) -> dict[str, Any] | None:
    """For a Django admin change page (/admin/<app>/<model>/<pk>/change/): the object it
    edits, as stored in Message.page_context; otherwise None."""
    path = _path_of(url)
    if not path:
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    model_admin = getattr(match.func, "model_admin", None)
    object_id = match.kwargs.get("object_id")
    if (
        model_admin is None
        or "admin" not in match.namespaces
        or not (match.url_name or "").endswith("_change")
        or not object_id
    ):
        return None
    opts = model_admin.model._meta
    verbose_name = str(opts.verbose_name)
    return {
        "path": path,
        "label": f"{verbose_name[:1].upper()}{verbose_name[1:]} #{object_id}",
        "app_label": opts.app_label,
        "model": opts.model_name,
        "pk": str(object_id),
    }


def page_context(url: str, *, attach_object: bool) -> dict[str, Any] | None:
    """What Message.page_context stores: the page path, plus the admin object when the user
    chose to attach it."""
    path = _path_of(url)
    if not path:
        return None
    if attach_object:
        found = admin_object(path)
        if found is not None:
            return found
    return {"path": path}


def describe(context: dict[str, Any] | None) -> str:
    """The page line of the system prompt."""
    if not context:
        return ""
    if "label" in context:
        return (
            f"The user is on {context['path']}, the Django admin page of {context['label']} "
            f"(collection {context['app_label']}.{context['model']}, key {context['pk']}), "
            "and attached it as context."
        )
    return f"The user is on the page {context['path']}."
