"""Who may open each URL: the status every kind of account gets, with AI_ENABLED on and off and
the MCP server on and off. Kept beside the URL conf on purpose.

tests/config/test_hardening_doors.py requests every pattern of the URL conf (walked recursively) and
/mcp (served by config.asgi, outside the URL conf) as each account below, and compares the
answers with this table. A URL without an entry fails that test: a new view gets its door
written down here, next to the rule it follows, before it ships. The CSRF test posts to every
POST door without a token.

A door is one method of one URL. Its rule says what each account gets; `OK` stands for the
door's own `ok` status, the answer to an account that is let in (with the door's test request:
its query string and form data; "{name}" fills in the pk (or slug) of one of the test's
objects, owned by the requesting account). Django admin is covered by one rule for the whole
namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACCOUNTS = (
    "anonymous",
    "api_only_user",  # signed in, no App access
    "app_user",  # in the "App users" group
    "settings_manager",  # holds ai_settings.manage_ai_settings, no App access, not staff
    "staff_user",  # is_staff, no permissions
    "superuser",
)

OK = "ok"
LOGIN = 302  # a redirect to the login page


@dataclass(frozen=True)
class Rule:
    """Status per account with AI enabled and MCP on, and what changes when either is off."""

    name: str
    on: dict[str, int | str]
    ai_off: dict[str, int | str] | None = None  # None: as with AI on
    mcp_off: dict[str, int | str] | None = None  # None: as with MCP on

    def status(self, account: str, *, ai_enabled: bool, mcp_enabled: bool) -> int | str:
        table = self.on
        if not ai_enabled and self.ai_off is not None:
            table = self.ai_off
        elif not mcp_enabled and self.mcp_off is not None:
            table = self.mcp_off
        return table[account]


def _all(status: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ACCOUNTS, status)


PUBLIC = Rule("anyone", _all(OK))

SIGNED_IN = Rule("signed in", _all(OK) | {"anonymous": LOGIN})

APP_ACCESS = Rule(
    "App access (assistant.access.app_access_required)",
    {
        "anonymous": LOGIN,
        "api_only_user": 403,
        "app_user": OK,
        "settings_manager": 403,
        "staff_user": 403,
        "superuser": OK,
    },
    ai_off=_all(404),
)

AI_SIGNED_IN = Rule(
    "signed in, AI enabled (assistant.access.ai_login_required)",
    _all(OK) | {"anonymous": LOGIN},
    ai_off=_all(404),
)

_MANAGERS: dict[str, int | str] = {
    "anonymous": LOGIN,
    "api_only_user": 403,
    "app_user": 403,
    "settings_manager": OK,
    "staff_user": 403,
    "superuser": OK,
}

MANAGE_VIEW = Rule("AI settings managers (ai_settings.access); readable with AI off", _MANAGERS)

MANAGE_CHANGE = Rule(
    "AI settings managers; refused with AI off (the form is disabled)",
    _MANAGERS,
    ai_off=_all(403) | {"anonymous": LOGIN},
)

MCP = Rule(
    "a personal access token (assistant.mcp.http): any account may hold one",
    _all(OK) | {"anonymous": 401},  # the anonymous request carries no token
    ai_off=_all(404),
    mcp_off=_all(404),
)

ADMIN = Rule(
    "Django admin: staff only, then the model's own permissions",
    {
        "anonymous": LOGIN,
        "api_only_user": LOGIN,
        "app_user": LOGIN,
        "settings_manager": LOGIN,
        "staff_user": 403,  # a model page, for staff without that model's permissions
        "superuser": OK,
    },
)
ADMIN_INDEX = Rule(
    "Django admin's index: any staff account",
    {**ADMIN.on, "staff_user": OK},
)
ADMIN_NAMESPACE = "admin"


@dataclass(frozen=True)
class Door:
    method: str
    rule: Rule
    ok: int
    query: str = ""
    data: dict[str, str] = field(default_factory=dict)
    # URL kwarg → the test object whose pk fills it
    kwargs: dict[str, str] = field(default_factory=dict)
    why: str = ""  # what the `ok` status means, when it is not a plain page

    @property
    def changes_state(self) -> bool:
        return self.method == "POST"

    def expected(self, account: str, *, ai_enabled: bool, mcp_enabled: bool) -> int:
        status = self.rule.status(account, ai_enabled=ai_enabled, mcp_enabled=mcp_enabled)
        return self.ok if status == OK else int(status)


_conversation = {"pk": "conversation"}
_tool_call = {"pk": "tool_call"}

DOORS: dict[str, tuple[Door, ...]] = {
    # config/urls.py
    "home": (Door("GET", SIGNED_IN, 200),),
    "healthz": (Door("GET", PUBLIC, 200),),
    "login": (Door("GET", PUBLIC, 200),),
    "logout": (Door("POST", PUBLIC, 302, why="logged out, sent to the login page"),),
    # ai_settings/urls.py
    "ai_settings:settings": (
        Door("GET", MANAGE_VIEW, 200),
        Door("POST", MANAGE_CHANGE, 409, why="a post without the form's version is stale"),
    ),
    "ai_settings:new_provider": (Door("GET", MANAGE_CHANGE, 200, query="providers-TOTAL_FORMS=1"),),
    "ai_settings:new_model_row": (
        Door(
            "GET",
            MANAGE_CHANGE,
            200,
            query="prefix=providers-0-models&providers-0-models-TOTAL_FORMS=1",
        ),
    ),
    "ai_settings:new_header_row": (
        Door(
            "GET",
            MANAGE_CHANGE,
            200,
            query="prefix=providers-0-headers&providers-0-headers-TOTAL_FORMS=0",
        ),
    ),
    "ai_settings:test_connection": (
        Door("POST", MANAGE_CHANGE, 200, data={"target": "openai"}, why="the result partial"),
    ),
    "ai_settings:generate_collection": (Door("POST", MANAGE_CHANGE, 200),),
    "ai_settings:usage": (Door("GET", MANAGE_VIEW, 200),),
    "ai_settings:usage_csv": (Door("GET", MANAGE_VIEW, 200),),
    "ai_settings:groups": (
        Door("GET", MANAGE_VIEW, 200),
        Door(
            "POST",
            MANAGE_CHANGE,
            302,
            data={"group": "{group}", "group-{group}-model_access": "all"},
            why="saved, back to the list",
        ),
    ),
    # assistant/urls.py
    "assistant:index": (Door("GET", APP_ACCESS, 200),),
    "assistant:panel": (Door("GET", APP_ACCESS, 200),),
    "assistant:new": (Door("POST", APP_ACCESS, 302, why="to the new conversation"),),
    "assistant:send": (Door("POST", APP_ACCESS, 204, why="an empty message is ignored"),),
    "assistant:retry": (
        Door(
            "POST",
            APP_ACCESS,
            400,
            data={"message": "{message}"},
            why="no model is configured: refused with the picker",
        ),
    ),
    "assistant:tool_settings": (
        Door("GET", APP_ACCESS, 200),
        Door("POST", APP_ACCESS, 302, why="saved, back to the page"),
    ),
    "assistant:conversation": (Door("GET", APP_ACCESS, 200, kwargs=_conversation),),
    "assistant:send_to": (
        Door("POST", APP_ACCESS, 204, kwargs=_conversation, why="an empty message is ignored"),
    ),
    "assistant:rename": (
        Door("POST", APP_ACCESS, 302, kwargs=_conversation, data={"title": "Renamed"}),
    ),
    "assistant:delete": (Door("POST", APP_ACCESS, 302, kwargs={"pk": "spare_conversation"}),),
    "assistant:stop": (
        Door(
            "POST",
            APP_ACCESS,
            204,
            kwargs={"pk": "conversation", "message_id": "message"},
            why="the stop flag is set",
        ),
    ),
    "assistant:follow": (
        Door(
            "GET",
            APP_ACCESS,
            200,
            kwargs={"turn_key": "turn"},
            why="the turn's answer, as stored once its events are gone",
        ),
    ),
    "assistant:resume": (
        Door(
            "POST",
            APP_ACCESS,
            409,
            kwargs={"message_id": "paused_message"},
            why="its tool call still waits for a decision",
        ),
    ),
    "assistant:tool_approve": (Door("POST", APP_ACCESS, 302, kwargs=_tool_call),),
    "assistant:tool_deny": (Door("POST", APP_ACCESS, 302, kwargs=_tool_call),),
    # The test's call waits for approval: answering or dismissing it does not fit.
    "assistant:tool_answer": (
        Door("POST", APP_ACCESS, 409, kwargs=_tool_call, why="not a question"),
    ),
    "assistant:tool_dismiss": (
        Door("POST", APP_ACCESS, 409, kwargs=_tool_call, why="not a question"),
    ),
    # prompts/urls.py
    "prompts:tokens": (
        Door("GET", AI_SIGNED_IN, 200),
        Door("POST", AI_SIGNED_IN, 200, data={"name": "door"}, why="the token, shown once"),
    ),
    "prompts:revoke_token": (Door("POST", AI_SIGNED_IN, 302, kwargs={"token_id": "token"}),),
    "prompts:picker": (Door("GET", APP_ACCESS, 200),),
    "prompts:prompt_form": (Door("GET", APP_ACCESS, 200, kwargs={"name": "prompt"}),),
}

# Served by config.asgi beside Django, not by the URL conf.
ASGI_DOORS: dict[str, tuple[Door, ...]] = {
    "/mcp": (
        Door("POST", MCP, 200, why="JSON-RPC initialize answered"),
        Door("GET", MCP, 405, why="a stateless server offers no standalone SSE stream"),
    ),
}
