"""The chat settings menu's tool section: each tool Always / Ask / Disabled for the user.

GET renders the section (the partial for htmx, a page otherwise); POST saves the modes and
renders it again (htmx) or redirects back (plain form post).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from assistant.access import app_access_required
from assistant.tools import all_tools, tool_specs
from assistant.tools.base import Tool
from assistant.tools.preferences import UNUSED_DAYS, Mode, modes_for, set_mode, unused_tools
from assistant.tools.serialize import dumps
from prompts.users import SignedInRequest, User

PARTIAL = "assistant/_tool_settings.html"
PAGE = "assistant/tool_settings.html"


@dataclass(frozen=True)
class ToolRow:
    tool: Tool
    mode: str
    choices: list[tuple[str, str]]
    tokens: int  # rough size of the tool's definition, sent with every message
    unused: bool

    @property
    def field_name(self) -> str:
        return f"mode-{self.tool.name}"


def _choices(tool: Tool) -> list[tuple[str, str]]:
    if tool.interactive:  # nothing to approve: answering is the user's decision already
        return [(Mode.ALWAYS, "On"), (Mode.DISABLED, Mode.DISABLED.label)]
    return list(Mode.choices)


def _tokens(tool: Tool) -> int:
    spec = tool_specs([tool])[0]
    return max(1, round(len(dumps([spec.name, spec.description, spec.parameters])) / 4))


def _context(user: User, *, saved: bool = False, error: str = "") -> dict[str, Any]:
    modes = modes_for(user)
    unused = {tool.name for tool in unused_tools(user, modes)}
    rows = [
        ToolRow(tool, modes[tool.name], _choices(tool), _tokens(tool), tool.name in unused)
        for tool in all_tools()
    ]
    return {
        "rows": rows,
        "suggestions": [row for row in rows if row.unused],
        "unused_days": UNUSED_DAYS,
        "saved": saved,
        "error": error,
    }


def _save(request: SignedInRequest) -> str:
    """Store every mode posted; an invalid value stores nothing and returns the error."""
    changes = {}
    for tool in all_tools():
        value = request.POST.get(f"mode-{tool.name}")
        if value is None:
            continue
        if value not in dict(_choices(tool)):
            return f"“{value}” is not a mode for {tool.label}."
        changes[tool.name] = value
    for name, mode in changes.items():
        set_mode(request.user, name, mode)
    return ""


@app_access_required
@require_http_methods(["GET", "POST"])
def tool_settings(request: SignedInRequest) -> HttpResponse:
    saved, error = False, ""
    if request.method == "POST":
        error = _save(request)
        saved = not error
        if saved and not request.htmx:
            back = request.POST.get("next", "")
            safe = url_has_allowed_host_and_scheme(
                back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            return redirect(back if back and safe else request.path)
    template = PARTIAL if request.htmx else PAGE
    status = 400 if error else 200
    return render(
        request, template, _context(request.user, saved=saved, error=error), status=status
    )
