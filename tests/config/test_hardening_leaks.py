"""The secret leak scan: with distinctive keys set for OpenAI, Anthropic, Google, two
OpenAI-compatible providers and a custom header, every page and partial, every admin page,
the error pages, chat streams that end in provider errors (the fakes echo the key back), the
"Test connection" results and the MCP server's answers are fetched while every logger runs
at DEBUG (SQL with its parameters included). No key, nor its base64, may appear anywhere.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import reverse

from assistant.models import Conversation, Message
from prompts.models import ApiToken
from prompts.tokens import create_token
from tests.fakes.script import HttpError, Raw, Reply
from tests.support import hardening as setup
from tests.support.leaks import (
    ANTHROPIC_KEY,
    COMPAT_ONE_KEY,
    COMPAT_TWO_KEY,
    GOOGLE_KEY,
    HEADER_VALUE,
    OPENAI_KEY,
    SECRETS,
    Configured,
    LeakScan,
    configure_through_the_page,
    every_log_at_debug,
    forms_of,
    sse_text,
)
from tests.support.live_server import asgi_application
from tests.support.mcp import INITIALIZE, MCP_HEADERS
from tests.support.settings_page import URL, open_form

pytestmark = [
    # The chat stores a finished answer from a worker thread: it must see committed rows.
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume"),
]

KEY_OF = {
    "openai": OPENAI_KEY,
    "anthropic": ANTHROPIC_KEY,
    "google": GOOGLE_KEY,
    "compat_one": COMPAT_ONE_KEY,
    "compat_two": COMPAT_TWO_KEY,
}


def test_the_scan_finds_a_key_in_each_form_it_looks_for():
    """The scanner itself: plain, a part of it, and base64 inside a longer encoded text."""
    import base64

    scan = LeakScan()
    for label, text in {
        "plain": f"error: {OPENAI_KEY}.",
        "part": f"key sk-…{GOOGLE_KEY[6:20]}…",
        "basic auth": base64.b64encode(f"user:{COMPAT_ONE_KEY}".encode()).decode(),
        "urlsafe": base64.urlsafe_b64encode(f"xx{HEADER_VALUE}yy".encode()).decode(),
    }.items():
        scan.seen = [(label, text)]
        assert scan.leaks(), label
    scan.seen = [("masked", f"Set · ends in {OPENAI_KEY[-4:]}")]
    assert scan.leaks() == []
    assert forms_of(OPENAI_KEY)["base64"]


def test_log_records_are_scrubbed_of_every_key_an_adapter_was_built_with(caplog):
    """The SDKs log server answers (google-genai: each retried error body, at INFO); a key a
    server echoes is redacted when the record is made, in the message and the traceback."""
    import logging

    from ai_settings.current import ProviderConnection
    from assistant.providers import get_adapter

    secret = "gateway-UNSHAPEDsecret-0a1b2c3d"
    connection = ProviderConnection(
        "compat-77",
        "compatible",
        "Gateway",
        COMPAT_TWO_KEY,
        "http://127.0.0.1:9/v1",
        {"X-Token": secret},
    )
    get_adapter(connection)
    logger = logging.getLogger("google_genai._api_client")
    with caplog.at_level(logging.DEBUG):
        logger.info("Retrying as it raised %s", {"error": f"bad key {COMPAT_TWO_KEY}"})
        try:
            raise RuntimeError(f"upstream said {secret}")
        except RuntimeError:
            logger.exception("Request failed")
    text = caplog.text
    assert "Retrying as it raised" in text and "upstream said [redacted]" in text
    assert COMPAT_TWO_KEY not in text and secret not in text


@pytest.fixture
def scan() -> LeakScan:
    return LeakScan()


@pytest.fixture
def logs(capfd):
    """Every logger at DEBUG, and SQL logged with its parameters, for the whole test."""
    with every_log_at_debug() as collector:
        forced = connection.force_debug_cursor
        connection.force_debug_cursor = True
        try:
            yield collector
        finally:
            connection.force_debug_cursor = forced


@pytest.fixture
def fakes(settings, fake_openai, fake_anthropic, fake_gemini):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    settings.GOOGLE_BASE_URL = fake_gemini.base_url
    return {
        "openai": fake_openai,
        "anthropic": fake_anthropic,
        "google": fake_gemini,
        "compat_one": fake_openai,
        "compat_two": fake_openai,
    }


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def configured(admin_client, fakes, scan, logs) -> Configured:
    setup.active_collection()
    return configure_through_the_page(
        admin_client, scan, compatible_base_url=fakes["compat_one"].base_url
    )


def assert_no_leaks(scan: LeakScan, logs, capfd) -> None:
    captured = capfd.readouterr()
    extra = [
        ("the logs (every logger at DEBUG)", "\n".join(logs.lines)),
        ("stdout", captured.out),
        ("stderr", captured.err),
    ]
    assert logs.lines, "the log capture works"
    leaks = scan.leaks(extra)
    assert not leaks, "\n".join(leaks[:20])


def _get(client: Client, scan: LeakScan, path: str, label: str | None = None, **extra) -> str:
    response = client.get(path, **extra)
    body = b"".join(response) if response.streaming else response.content
    assert response.status_code < 500, f"{path}: {response.status_code}"
    return scan.add(label or f"GET {path}", body)


# Settings → AI, usage and groups -----------------------------------------------------------


def test_settings_pages_partials_and_test_connection_never_show_a_key(
    admin_client, configured, fakes, scan, logs, capfd
):
    for path in (
        URL,
        reverse("ai_settings:new_provider") + "?providers-TOTAL_FORMS=2",
        reverse("ai_settings:new_model_row")
        + "?prefix=providers-0-models&providers-0-models-TOTAL_FORMS=1",
        reverse("ai_settings:new_header_row")
        + "?prefix=providers-0-headers&providers-0-headers-TOTAL_FORMS=1",
        reverse("ai_settings:usage"),
        reverse("ai_settings:usage_csv"),
        reverse("ai_settings:groups"),
    ):
        _get(admin_client, scan, path, HTTP_HX_REQUEST="true" if "rows" in path else "")
    scan.add(
        "Generate new collection",
        admin_client.post(reverse("ai_settings:generate_collection")).content,
    )

    # Test connection with the stored keys, each provider echoing the key in its error.
    for fake in {id(f): f for f in fakes.values()}.values():
        fake.models_error = HttpError(
            401, "Incorrect API key provided: {key} (gateway token {header:X-Gateway-Token})"
        )
    form = open_form(admin_client)
    for target in ("openai", "anthropic", "google", "providers-0", "providers-1"):
        response = admin_client.post(
            reverse("ai_settings:test_connection"),
            {**form.post(), "target": target},
            HTTP_HX_REQUEST="true",
        )
        text = scan.add(f"Test connection ({target}, htmx)", response.content)
        assert response.status_code == 200 and "redacted" in text, text
        response = admin_client.post(URL, form.post(f"test:{target}"))
        scan.add(f"Test connection ({target}, no JavaScript)", response.content)
    sent = [r.headers.get("x-gateway-token") for r in fakes["compat_one"].requests]
    assert HEADER_VALUE in sent, "the fake received (and echoed) the custom header"
    # A typed key is tested too, and a form with errors comes back without the typed keys.
    form.set("openai-api_key", "sk-" + "proj-TYPEDnew9Zz8Yy7Xx6Ww5Vv4")
    scan.secrets["typed OpenAI key"] = "sk-" + "proj-TYPEDnew9Zz8Yy7Xx6Ww5Vv4"
    response = admin_client.post(URL, form.post("test:openai"))
    scan.add("Test connection with a typed key", response.content)
    form.set("rate_limit_per_minute", "not a number")
    response = admin_client.post(URL, form.post())
    assert response.status_code == 400
    scan.add("Settings → AI re-rendered with errors", response.content)
    _get(admin_client, scan, URL, "Settings → AI with its audit log")
    assert_no_leaks(scan, logs, capfd)


# The chat: pages, partials and streams that end in provider errors --------------------------


def _errors_echoing_keys(provider: str) -> list:
    """Faults whose bodies (or malformed answers) carry the key the request was sent with."""
    key = KEY_OF[provider]
    server_error = HttpError(500, "upstream failed for {key} with header {header:X-Gateway-Token}")
    if provider == "google":
        server_errors = [server_error] * 3  # the SDK's two retries take the next ones
    else:
        server_errors = [HttpError(500, server_error.message, headers={"x-should-retry": "false"})]
    return [
        HttpError(401, "Incorrect API key provided: {key}"),
        # A wait this long is not sat out by the SDK (assistant.providers.clients).
        HttpError(429, "Quota of {key} exceeded", retry_after="30"),
        *server_errors,
        Reply(text="Partial answer", chunk_size=4, stream_error=f"overloaded ({key})"),
        Reply(text="Cut off answer", chunk_size=4, drop_after=2),
        Raw(f'{{"not": "the format", "key": "{key}"'.encode(), content_type="application/json"),
        Raw(f"data: {{broken json {key}\n\n".encode()),
    ]


def _send(client: Client, scan: LeakScan, label: str, **data) -> str:
    response = client.post(reverse("assistant:send"), data)
    body = b"".join(response) if response.streaming else response.content
    assert response.status_code == 200, f"{label}: {response.status_code} {body[:500]!r}"
    return scan.add(label, sse_text(body))


def test_chat_streams_ending_in_provider_errors_and_chat_pages_never_show_a_key(
    admin_client, configured, fakes, scan, logs, capfd
):
    for provider, model in configured.all().items():
        faults = _errors_echoing_keys(provider)
        fakes[provider].script(*faults)
        turns = [f for number, f in enumerate(faults) if f is not faults[number - 1] or not number]
        for number, fault in enumerate(turns):
            label = f"chat stream, {provider}, {type(fault).__name__} #{number}"
            text = _send(admin_client, scan, label, message=f"Question {number}", model=model)
            answer = Message.objects.filter(role="assistant").latest("id")
            assert answer.status == "error", (label, answer.status, text[-500:])
            scan.add(f"{label}: stored error", answer.error_message)
        fakes[provider].script(Reply(text="All good now."))
        _send(
            admin_client,
            scan,
            f"chat stream, {provider}, after the errors",
            message="Again",
            model=model,
        )

    conversation = Conversation.objects.order_by("id").first()
    message = Message.objects.filter(role="assistant").order_by("id").first()
    for path in (
        reverse("assistant:index"),
        reverse("assistant:panel"),
        reverse("assistant:panel") + f"?conversation={conversation.pk}",
        reverse("assistant:conversation", kwargs={"pk": conversation.pk}),
        reverse("assistant:tool_settings"),
        reverse("prompts:picker"),
        reverse("prompts:prompt_form", kwargs={"name": "summarize"}),
        reverse("prompts:tokens"),
        reverse("home"),
    ):
        _get(admin_client, scan, path)
        _get(admin_client, scan, path, f"GET {path} (htmx)", HTTP_HX_REQUEST="true")
    for conversation in Conversation.objects.all():
        _get(admin_client, scan, reverse("assistant:conversation", kwargs={"pk": conversation.pk}))
    response = admin_client.post(reverse("assistant:retry"), {"message": message.pk})
    scan.add(
        "retry of an old answer", b"".join(response) if response.streaming else response.content
    )
    assert_no_leaks(scan, logs, capfd)


# Django admin, error pages ------------------------------------------------------------------


def test_every_admin_page_and_the_error_pages_never_show_a_key(
    admin_client, configured, fakes, scan, logs, capfd, superuser, api_only_user
):
    from ai_settings.models import GroupAIPolicy

    fakes["compat_one"].script(HttpError(401, "bad key {key}"))
    _send(admin_client, scan, "a failed chat turn", message="Hi", model=configured.compat_one)
    GroupAIPolicy.objects.get_or_create(group=setup.app_users_group())
    create_token(superuser, "leak scan")
    setup.door_objects(superuser)
    _get(admin_client, scan, reverse("admin:index"))
    for model in admin.site._registry:
        admin_name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        _get(admin_client, scan, reverse(f"{admin_name}_changelist"))
        assert model._default_manager.exists(), f"no {model.__name__} to open in admin"
        for obj in model._default_manager.all()[:20]:
            _get(admin_client, scan, reverse(f"{admin_name}_change", args=[obj.pk]))
            _get(admin_client, scan, reverse(f"{admin_name}_history", args=[obj.pk]))

    # 403, 404 and 500 pages.
    forbidden = Client()
    forbidden.force_login(api_only_user)
    assert forbidden.get(reverse("assistant:index")).status_code == 403
    _get(forbidden, scan, reverse("assistant:index"), "the 403 page")
    _get(forbidden, scan, URL, "the 403 page of Settings → AI")
    _get(admin_client, scan, "/no/such/page/", "the 404 page")
    _get(admin_client, scan, reverse("assistant:conversation", kwargs={"pk": 999999}), "a 404")
    from config.views import server_error

    request = admin_client.get(URL).wsgi_request
    scan.add("the 500 page", server_error(request).content)
    assert_no_leaks(scan, logs, capfd)


# Partial echoes: a server that sends back part of a key or header -----------------------------

PARTIAL_ECHOES = {
    "key-minus-last-two": "Invalid key {key[:-2]}",
    "middle-twelve": "Key …{key[10:22]}… is not valid",
    "header-minus-first-two": "Unknown gateway token {header:X-Gateway-Token[2:]}",
}


def _runs_of_eight(secret: str) -> list[str]:
    """Every 8 characters in a row of the secret, but those of lower-case letters only: the
    secrets hold ordinary words ("anthropic") that logger names and URLs hold too."""
    runs = [secret[i : i + 8] for i in range(len(secret) - 7)]
    return [run for run in runs if not (run.isalpha() and run.islower())]


@pytest.mark.parametrize("shape", list(PARTIAL_ECHOES))
def test_partial_echoes_of_keys_and_headers_never_reach_the_chat_or_the_logs(
    admin_client, configured, fakes, scan, logs, capfd, caplog, shape
):
    import logging
    from html import unescape

    echo = PARTIAL_ECHOES[shape]
    # Only the compatible provider sends the custom header.
    providers = ["compat_one"] if shape.startswith("header") else list(configured.all())
    shown = []
    with caplog.at_level(logging.DEBUG):
        for provider in providers:
            key = KEY_OF[provider]
            partial = key[:-2] if shape == "key-minus-last-two" else key[10:22]
            fakes[provider].script(
                HttpError(400, echo),
                Reply(text="Half", chunk_size=4, stream_error=f"overloaded for {partial}"),
            )
            for number in range(2):
                label = f"chat, {provider}, {shape} #{number}"
                model = configured.all()[provider]
                html = _send(admin_client, scan, label, message=f"Q{number}", model=model)
                answer = Message.objects.filter(role="assistant").latest("id")
                assert answer.status == "error", (label, html[-300:])
                scan.add(f"{label}: stored error", answer.error_message)
                shown += [(label, unescape(html)), (f"{label}: stored", answer.error_message)]
            assert "[redacted]" in shown[-4][1] and "[redacted]" in shown[-3][1]
    shown.append(("caplog", caplog.text))
    for name, secret in SECRETS.items():
        for run in _runs_of_eight(secret):
            leaked = [label for label, text in shown if run in text]
            assert not leaked, f"{run!r} of the {name} in {leaked}"
    assert_no_leaks(scan, logs, capfd)


def test_a_gateway_echoing_another_providers_stored_key_is_redacted_from_the_chat(
    admin_client, configured, fakes, scan, logs, capfd
):
    """The chat redacts every stored key and header value, not only its own provider's."""
    middle = OPENAI_KEY[10:22]
    fakes["compat_two"].script(HttpError(400, f"fallback route failed with key {middle}"))

    html = _send(admin_client, scan, "chat, compat_two", message="Hi", model=configured.compat_two)

    answer = Message.objects.filter(role="assistant").latest("id")
    assert answer.error_message == (
        "Second LLM rejected the request (HTTP 400): fallback route failed with key [redacted]."
    )
    assert middle not in html and "[redacted]" in html
    scan.add("stored error", answer.error_message)
    assert_no_leaks(scan, logs, capfd)


# MCP ------------------------------------------------------------------------------------------


async def _mcp_answers(token: str, collections_extra: list[str]) -> list[tuple[str, str]]:
    application = asgi_application()

    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    answers = []

    async def call(method: str, params: dict | None = None) -> dict:
        status, _, text = await setup.asgi_request(
            "POST", "/mcp", headers=headers, body=setup.jsonrpc(method, params)
        )
        answers.append((f"MCP {method} {json.dumps(params)[:120]}", text))
        assert status == 200, (method, status, text[:500])
        return json.loads(text)

    try:
        await call("initialize", INITIALIZE["params"])
        await call("tools/list")
        await call("prompts/list")
        await call("prompts/get", {"name": "summarize", "arguments": {}})
        schema = await call("tools/call", {"name": "schema", "arguments": {}})
        listed = json.loads(schema["result"]["content"][0]["text"])["collections"]
        keys = [c["collection"] for c in listed] + collections_extra
        for key in keys:
            await call("tools/call", {"name": "schema", "arguments": {"keys": [key]}})
            await call(
                "tools/call",
                {"name": "items", "arguments": {"action": "read", "collection": key, "limit": 50}},
            )
        await call("tools/call", {"name": "system-prompt", "arguments": {}})
        await call("tools/call", {"name": "prompts", "arguments": {}})
        # Bad tokens and errors.
        for bad in ("", "Bearer nope", f"Bearer {token}x"):
            _, _, text = await setup.asgi_request(
                "POST",
                "/mcp",
                headers={**MCP_HEADERS, "Authorization": bad},
                body=setup.jsonrpc("tools/list"),
            )
            answers.append((f"MCP with authorization {bad[:12]!r}", text))
    finally:
        await application.mcp_app.shutdown()
    return answers


def test_mcp_answers_never_show_a_key(configured, superuser, scan, logs, capfd):
    setup.set_ai(mcp_enabled=True, mcp_allow_deletes=True)
    ApiToken.objects.filter(user=superuser).delete()
    _, token = create_token(superuser, "leak scan")
    hidden = ["ai_settings.aisettings", "ai_settings.compatibleprovider", "assistant.message"]
    for label, text in async_to_sync(_mcp_answers)(token, hidden):
        scan.add(label, text)
    assert any("ai_settings.aisettings" in label for label, _ in scan.seen)
    assert_no_leaks(scan, logs, capfd)
