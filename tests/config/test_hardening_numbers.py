"""Every number a request carries, fuzzed with what is not one: digits that are not ASCII
("³", "٣", "１"), signs, spaces, decimals, numbers no column holds, nothing at all. An id
that names an object is a 404, a form field is a form error shown on the page, a row count
is a 400 with its reason; never a 500, and nothing stored changes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider
from assistant.models import Conversation, Message, ToolCall
from config.doors import DOORS
from prompts.request_numbers import MAX_ID, object_id, whole_number
from tests.support import hardening as setup
from tests.support.settings_page import URL as SETTINGS_URL
from tests.support.settings_page import open_form

pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume")

FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run and every machine
)

# Unicode digits and numerals that str.isdigit() or int() take for numbers.
unicode_digits = st.text(
    st.characters(whitelist_categories=("Nd", "No", "Nl")), min_size=1, max_size=4
).filter(lambda text: not text.isascii())
too_big = st.integers(min_value=MAX_ID + 1, max_value=10**60).map(str)
NOT_NUMBERS = ["³", "٣", "１", "²³", "Ⅻ", "-1", "+1", "-0", "", " ", " 1", "1 ", "\t1", "1.0",
               "1e3", "0x1", "1_0", "\x00", "1\x00", "9" * 40, str(MAX_ID + 1)]  # fmt: skip
not_a_number = st.one_of(
    st.sampled_from(NOT_NUMBERS),
    unicode_digits,
    too_big,
    st.integers(max_value=-1).map(str),
)


# The parser -------------------------------------------------------------------------------


@given(number=st.integers(min_value=0, max_value=MAX_ID))
@settings(deadline=None)
def test_ascii_digits_up_to_the_largest_id_are_numbers(number):
    assert whole_number(str(number)) == number
    assert object_id(str(number)) == number


@given(raw=not_a_number)
@settings(deadline=None, derandomize=True)
def test_anything_else_is_not_a_number(raw):
    assert whole_number(raw) is None


def test_a_number_above_the_maximum_is_not_one():
    assert whole_number("3", maximum=2) is None
    assert whole_number("2", maximum=2) == 2
    assert whole_number("0", maximum=-1) is None  # no options at all


# Numbers in query strings and forms ------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """One number a view reads. "{n}" in the data (a key or a value) is the fuzzed value;
    other "{name}"s are the test's objects. `data` is posted on top of the settings page's
    own form when `settings_form` is set."""

    name: str
    method: str
    url: str
    data: dict[str, str]
    refused: int
    says: str = ""  # what the answer shows (a form error), if anything
    empty: int | None = 0  # the status for "" when it differs; None: "" is fine there
    htmx: bool = False
    settings_form: bool = False
    kwargs: dict[str, str] = field(default_factory=dict)


FORM_ERROR = re.compile(r'class="(form-error|errorlist[^"]*)"')

READERS = [
    Reader("panel's conversation", "GET", "/assistant/panel/", {"conversation": "{n}"}, 404,
           empty=None),
    Reader("send's conversation", "POST", "/assistant/messages/",
           {"conversation": "{n}", "message": "Hello"}, 404, empty=None),
    Reader("retry's message", "POST", "/assistant/retry/", {"message": "{n}"}, 404),
    Reader("ask_user answer", "POST", "/assistant/tool-calls/{question}/answer/", {"q0": "{n}"},
           400, says="Choose one of the options shown.", htmx=True),
    Reader("new provider row", "GET", "/settings/ai/rows/provider/",
           {"providers-TOTAL_FORMS": "{n}"}, 400, says="providers-TOTAL_FORMS must be"),
    Reader("new model row", "GET", "/settings/ai/rows/model/",
           {"prefix": "providers-0-models", "providers-0-models-TOTAL_FORMS": "{n}"}, 400,
           says="Unknown rows."),
    Reader("new header row", "GET", "/settings/ai/rows/header/",
           {"prefix": "providers-0-headers", "providers-0-headers-TOTAL_FORMS": "{n}"}, 400,
           says="Unknown rows."),
    Reader("settings' provider count", "POST", SETTINGS_URL, {"providers-TOTAL_FORMS": "{n}"},
           400, settings_form=True),
    Reader("settings' model count", "POST", SETTINGS_URL,
           {"providers-0-models-TOTAL_FORMS": "{n}"}, 400, settings_form=True),
    Reader("settings' header count", "POST", SETTINGS_URL,
           {"providers-0-headers-TOTAL_FORMS": "{n}"}, 400, settings_form=True),
    Reader("settings' provider id", "POST", SETTINGS_URL, {"providers-0-id": "{n}"}, 400,
           settings_form=True),
    Reader("settings' version", "POST", SETTINGS_URL, {"version": "{n}"}, 409,
           says="make your changes again", settings_form=True),
    Reader("settings' rate limit", "POST", SETTINGS_URL, {"rate_limit_per_minute": "{n}"}, 400,
           settings_form=True, empty=None),
    Reader("settings' context window", "POST", SETTINGS_URL,
           {"providers-0-models-0-context_window": "{n}"}, 400, settings_form=True),
    Reader("settings' Add model", "POST", SETTINGS_URL, {"action": "add_model:{n}"}, 400,
           says="That provider is not on the page.", settings_form=True),
    Reader("settings' Add header", "POST", SETTINGS_URL, {"action": "add_header:{n}"}, 400,
           says="That provider is not on the page.", settings_form=True),
    Reader("usage period", "GET", "/settings/ai/usage/", {"period": "{n}"}, 400, empty=None),
    Reader("usage CSV period", "GET", "/settings/ai/usage.csv", {"period": "{n}"}, 400,
           says="Invalid period", empty=None),
    Reader("groups' group", "POST", "/settings/ai/groups/",
           {"group": "{n}", "group-{group}-model_access": "all"}, 404),
    Reader("group's daily budget", "POST", "/settings/ai/groups/",
           {"group": "{group}", "group-{group}-model_access": "all",
            "group-{group}-daily_token_budget": "{n}"}, 400, empty=None),
]  # fmt: skip


def _state() -> tuple[Any, ...]:
    return (
        *setup.stored_settings(),
        list(Conversation.objects.order_by("pk").values("pk", "title")),
        list(Message.objects.order_by("pk").values("pk", "status", "content")),
        list(ToolCall.objects.order_by("pk").values("pk", "status", "result")),
    )


@pytest.fixture
def objects(superuser, fake_openai) -> dict[str, Any]:
    """A superuser's chat (a failed answer, a turn paused on a question) and saved settings
    with a compatible provider, one model and one header."""
    AISettings.load()
    provider = CompatibleProvider.objects.create(
        name="Local", base_url=fake_openai.base_url, api_key="sk-" + "local-0123456789",
        custom_headers=json.dumps({"X-Team": "team-" + "secret-value"}),
    )  # fmt: skip
    CompatibleModel.objects.create(provider=provider, model_id="local-model")
    setup.bump()
    found = setup.door_objects(superuser)
    paused = Message.objects.get(pk=found["paused_message"])
    question = ToolCall.objects.create(
        message=paused, call_id="call_question", name="ask_user",
        arguments={"questions": [{"question": "Which one?", "options": ["A", "B"]}]},
    )  # fmt: skip
    return {**found, "question": question.pk}


@pytest.fixture
def client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def _request(client: Client, reader: Reader, objects: dict[str, Any], value: str):
    names = {**objects, "n": value}
    data = {setup.fill(k, names): setup.fill(v, names) for k, v in reader.data.items()}
    if reader.settings_form:
        posted = open_form(client).post()
        posted.update({key: [value] for key, value in data.items()})
        return client.post(reader.url, posted)
    url = setup.fill(reader.url, objects)
    headers = {"HX-Request": "true"} if reader.htmx else {}
    send = client.get if reader.method == "GET" else client.post
    return send(url, data, headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize("reader", READERS, ids=[reader.name for reader in READERS])
@FUZZ
@given(value=not_a_number)
@example(value="³")
@example(value="٣")
@example(value="9" * 40)
def test_a_number_that_is_not_one_is_refused_in_place(client, objects, reader, value):
    expected = reader.refused
    if value == "" and reader.empty != 0:
        if reader.empty is None:
            return  # blank means something there (no conversation yet, no limit, …)
        expected = reader.empty
    before = _state()

    response = _request(client, reader, objects, value)
    body = b"".join(response).decode() if response.streaming else response.text

    assert response.status_code == expected, (value, response.status_code, body[:300])
    assert _state() == before, f"{value!r} changed what is stored"
    if reader.says:
        assert reader.says in body
    elif reader.settings_form or reader.url.startswith("/settings/ai/usage/"):
        assert FORM_ERROR.search(body), body[:500]  # the error shows on the page


@pytest.mark.django_db
@pytest.mark.parametrize("count", ["٣", "-1", "1.0", " 1"])
@pytest.mark.parametrize(
    "field", ["providers-TOTAL_FORMS", "providers-INITIAL_FORMS", "providers-0-models-TOTAL_FORMS"]
)
def test_a_row_count_that_int_would_take_is_a_form_error_on_the_page(client, objects, field, count):
    before = _state()
    posted = open_form(client).post()
    posted[field] = [count]

    response = client.post(SETTINGS_URL, posted)

    assert response.status_code == 400
    assert "The form&#x27;s row counts are damaged; reload the page." in response.text
    assert _state() == before


# Numbers in paths ----------------------------------------------------------------------------


def _routes(resolver: URLResolver | None = None, namespace: str = "", route: str = ""):
    """(namespaced name, route) of every pattern of the URL conf."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace or ""
            yield from _routes(pattern, inner, route + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, route + str(pattern.pattern)


INT_PARAMETER = re.compile(r"<int:\w+>")
NUMBERED_DOORS = [
    pytest.param(door.method, route, id=f"{door.method} /{route}")
    for name, route in _routes()
    if INT_PARAMETER.search(route) and name in DOORS
    for door in DOORS[name]
]


def test_the_url_conf_has_numbered_doors_to_fuzz():
    assert len(NUMBERED_DOORS) >= 10


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "route"), NUMBERED_DOORS)
@FUZZ
@given(value=st.one_of(too_big, unicode_digits, st.sampled_from(["-1", "+1", "1.0"])))
@example(value="9" * 40)
@example(value="³")
def test_a_number_in_a_path_that_no_row_holds_is_a_404(client, objects, method, route, value):
    before = _state()
    path = "/" + INT_PARAMETER.sub(value, route)
    response = client.get(path) if method == "GET" else client.post(path)
    assert response.status_code == 404, (path, response.status_code)
    assert _state() == before
