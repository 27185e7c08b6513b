"""The AI usage page (totals, chart, CSV export) and the group budgets and models page."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ai_settings.models import GroupAIPolicy, SettingsAuditEntry
from assistant import usage
from assistant.models import UsageRecord
from tests.support.usage import configure, group_with_policy, ledger_row

pytestmark = pytest.mark.django_db

USAGE = reverse("ai_settings:usage")
CSV = reverse("ai_settings:usage_csv")
GROUPS = reverse("ai_settings:groups")


def today_at(hour: int, days_ago: int = 0) -> datetime:
    local = timezone.localtime(timezone.now(), timezone.get_default_timezone())
    return (local - timedelta(days=days_ago)).replace(hour=hour, minute=0, second=0, microsecond=0)


def make_ledger(app_user, other_app_user) -> list[UsageRecord]:
    """A few days of calls by two users on three models, one of them unpriced and one failed."""
    rows = [
        ledger_row(app_user, today_at(9), input_tokens=1_000, output_tokens=500, cost="0.0063"),
        ledger_row(app_user, today_at(10), provider="Anthropic", provider_key="anthropic",
                   model="claude-haiku-4-5", input_tokens=2_000, output_tokens=1_000, cost="0.007"),
        ledger_row(other_app_user, today_at(8, days_ago=1), input_tokens=300, output_tokens=200,
                   reasoning_tokens=50, cost="0.0024"),
        ledger_row(other_app_user, today_at(8, days_ago=3), provider="Ollama",
                   provider_key="compat-1", model="qwen3:8b", input_tokens=4_000,
                   output_tokens=4_000),
        ledger_row(app_user, today_at(12, days_ago=5), outcome="auth"),
    ]  # fmt: skip
    # Outside the last 7 days: only longer periods include it.
    rows.append(ledger_row(app_user, today_at(12, days_ago=20), input_tokens=7, output_tokens=3,
                           cost="0.0001"))  # fmt: skip
    return rows


@pytest.fixture
def ledger(app_user, other_app_user) -> list[UsageRecord]:
    return make_ledger(app_user, other_app_user)


def shown_total(html: str, name: str) -> str:
    return re.search(rf'data-total="{name}">([^<]*)<', html).group(1)


# Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [USAGE, CSV, GROUPS])
def test_usage_pages_need_the_manage_permission(client, app_user, url):
    assert client.get(url)["Location"].startswith(reverse("login"))
    client.force_login(app_user)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", [USAGE, GROUPS])
def test_settings_manager_opens_the_usage_pages(client, settings_manager, url):
    configure()
    client.force_login(settings_manager)
    assert client.get(url).status_code == 200


# The usage page --------------------------------------------------------------------------


def test_an_answer_cut_off_by_the_provider_is_a_failed_call_and_one_the_user_left_is_not(
    client, settings_manager, app_user
):
    now = timezone.now()
    ledger_row(app_user, now, outcome="cut_off", input_tokens=10, estimated=True)
    ledger_row(app_user, now, outcome="interrupted", input_tokens=10, estimated=True)
    ledger_row(app_user, now, outcome="stopped", input_tokens=10)
    client.force_login(settings_manager)

    html = client.get(USAGE, {"period": "7"}).content.decode()

    assert shown_total(html, "calls") == "3"
    assert shown_total(html, "failed_calls") == "1"


def test_usage_totals_equal_the_sum_of_the_ledger(client, settings_manager, ledger):
    client.force_login(settings_manager)

    response = client.get(USAGE, {"period": "7"})

    html = response.content.decode()
    in_period = [r for r in ledger if r.created_at >= today_at(0, days_ago=6)]
    assert len(in_period) == 5
    tokens = sum(r.input_tokens + r.output_tokens for r in in_period)
    assert shown_total(html, "tokens") == f"{tokens:,}" == "13,000"
    assert shown_total(html, "calls") == "5"
    assert shown_total(html, "input_tokens") == f"{sum(r.input_tokens for r in in_period):,}"
    assert shown_total(html, "cost") == "$0.0157"
    assert shown_total(html, "failed_calls") == "1"
    assert "2 calls had no price" in html
    report = response.context["report"]
    assert sum(row.totals.tokens for row in report.by_day) == tokens
    assert sum(row.totals.tokens for row in report.by_user) == tokens
    assert sum(row.totals.tokens for row in report.by_model) == tokens
    assert [(row.label, row.totals.tokens) for row in report.by_user] == [
        ("other-app-user", 8_500), ("app-user", 4_500),
    ]  # fmt: skip
    assert report.by_model[0].label == "qwen3:8b" and report.by_model[0].detail == "Ollama"


def test_longer_period_includes_older_calls(client, settings_manager, ledger):
    client.force_login(settings_manager)

    html = client.get(USAGE, {"period": "30"}).content.decode()

    assert shown_total(html, "tokens") == "13,010"
    assert shown_total(html, "calls") == "6"


def test_custom_dates_choose_the_period(client, settings_manager, ledger):
    client.force_login(settings_manager)
    yesterday = today_at(0, days_ago=1).date()

    response = client.get(USAGE, {"period": "custom", "start": yesterday, "end": yesterday})

    assert shown_total(response.content.decode(), "tokens") == "500"
    assert [row.label for row in response.context["report"].by_day] == [yesterday.isoformat()]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"period": "custom", "start": "2025-03-10", "end": "2025-03-01"},
         "The last day cannot be before the first day."),
        ({"period": "custom", "start": "2024-01-01", "end": "2025-06-01"},
         "Choose at most 366 days."),
        ({"period": "custom", "end": "2025-06-01"}, "Enter the first day of the period."),
        ({"period": "custom", "start": "yesterday", "end": "2025-06-01"}, "Enter a valid date."),
        ({"period": "365"}, "Select a valid choice."),
    ],
)  # fmt: skip
def test_bad_period_shows_the_error_and_the_default_period(
    client, settings_manager, query, message
):
    client.force_login(settings_manager)

    response = client.get(USAGE, query)

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "showing the last 30 days" in html
    assert len(response.context["report"].period.days) == 30


def test_days_follow_the_site_time_zone(client, settings_manager, app_user, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    client.force_login(settings_manager)
    local_midnight = today_at(0)
    ledger_row(app_user, local_midnight + timedelta(minutes=5), output_tokens=11)  # 15:05 UTC
    ledger_row(app_user, local_midnight - timedelta(minutes=5), output_tokens=22)  # yesterday

    report = client.get(USAGE, {"period": "7"}).context["report"]

    assert [(row.label, row.totals.tokens) for row in report.by_day] == [
        ((local_midnight - timedelta(days=1)).date().isoformat(), 22),
        (local_midnight.date().isoformat(), 11),
    ]


def test_chart_is_an_accessible_svg_with_a_bar_per_day_and_provider(
    client, settings_manager, ledger
):
    client.force_login(settings_manager)

    html = client.get(USAGE, {"period": "7"}).content.decode()

    svg = re.search(r"<svg class=\"usage-chart\".*?</svg>", html, re.DOTALL).group(0)
    assert 'role="img"' in svg
    assert '<title id="usage-chart-title">Tokens per day by provider</title>' in svg
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", svg, re.DOTALL).group(1)
    assert "Total 13,000 tokens" in desc and "Ollama: 8,000 tokens" in desc
    # Today: OpenAI and Anthropic; yesterday: OpenAI; three days ago: Ollama. The failed call
    # five days ago used no tokens and draws nothing.
    assert svg.count('class="bar"') == 4
    for provider in ("Ollama", "Anthropic", "OpenAI"):
        assert f">{provider}</text>" in svg  # legend
    assert ">Tokens</text>" in svg and ">Day</text>" in svg  # axis labels


def test_usage_pages_have_no_inline_styles(client, settings_manager, ledger):
    """The CSP forbids style attributes: the chart colours are SVG presentation attributes."""
    client.force_login(settings_manager)
    group_with_policy("Interns", budget=100)
    for url in (USAGE, GROUPS):
        html = client.get(url).content.decode()
        assert "style=" not in html
        assert "<style" not in html


def test_usage_page_queries_do_not_grow_with_the_ledger(
    client, settings_manager, app_user, other_app_user
):
    client.force_login(settings_manager)
    configure()

    def add_rows(count: int) -> None:
        users = [app_user, other_app_user]
        models = [
            ("OpenAI", "gpt-5"),
            ("Anthropic", "claude-haiku-4-5"),
            ("Google", "gemini-2.5-pro"),
        ]
        created = UsageRecord.objects.bulk_create(
            UsageRecord(user=users[n % 2], provider=models[n % 3][0], model=models[n % 3][1],
                        input_tokens=n, output_tokens=1, cost=Decimal("0.01"))
            for n in range(count)
        )  # fmt: skip
        ids = [record.pk for record in created]
        for day in range(28):  # spread over the last four weeks
            UsageRecord.objects.filter(pk__in=ids[day::28]).update(
                created_at=today_at(12, days_ago=day)
            )

    add_rows(10)
    with CaptureQueriesContext(connection) as few:
        assert client.get(USAGE, {"period": "30"}).status_code == 200
    add_rows(1_000)
    with CaptureQueriesContext(connection) as many:
        response = client.get(USAGE, {"period": "30"})
    assert response.context["report"].totals.calls == 1_010
    assert len(many.captured_queries) == len(few.captured_queries)


# CSV export ------------------------------------------------------------------------------


async def _get_csv(user, query: dict) -> tuple[object, str]:
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(CSV, query)
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    await sync_to_async(connections.close_all)()
    return response, body


@pytest.mark.django_db(transaction=True)
async def test_csv_parses_back_to_the_page_totals(settings_manager, app_user, other_app_user):
    await sync_to_async(make_ledger)(app_user, other_app_user)
    period = {"period": "7"}

    response, body = await _get_csv(settings_manager, period)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="ai-usage-\d{4}-\d\d-\d\d-to-\d{4}-\d\d-\d\d\.csv"',
        response["Content-Disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == [
        "time", "user", "conversation", "provider", "provider_key", "model", "input_tokens",
        "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "duration_ms", "outcome",
        "estimated",
    ]  # fmt: skip
    assert len(rows) == 5
    assert {r["estimated"] for r in rows} == {""}
    assert sum(int(r["total_tokens"]) for r in rows) == 13_000
    assert sum(int(r["input_tokens"]) for r in rows) == 7_300
    assert sum(Decimal(r["cost_usd"] or 0) for r in rows) == Decimal("0.0157")
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert {r["user"] for r in rows} == {"app-user", "other-app-user"}
    assert [r["outcome"] for r in rows].count("auth") == 1
    assert sum(int(r["reasoning_tokens"]) for r in rows) == 50

    client = AsyncClient()
    await client.aforce_login(settings_manager)
    page = await client.get(USAGE, period)
    await sync_to_async(connections.close_all)()
    assert shown_total(page.content.decode(), "tokens") == "13,000"


@pytest.mark.django_db(transaction=True)
async def test_estimated_calls_are_marked_on_the_page_and_in_the_csv(
    settings_manager, app_user, other_app_user
):
    def set_up() -> None:
        ledger_row(app_user, today_at(9), input_tokens=1_000, output_tokens=500, cost="0.0063")
        ledger_row(
            app_user,
            today_at(10),
            model="gpt-5-mini",
            input_tokens=2_000,
            output_tokens=40,
            cost="0.00058",
            outcome="stopped",
            estimated=True,
        )
        ledger_row(other_app_user, today_at(11), input_tokens=300, output_tokens=200)  # fmt: skip

    await sync_to_async(set_up)()
    client = AsyncClient()
    await client.aforce_login(settings_manager)
    page = (await client.get(USAGE, {"period": "7"})).content.decode()

    about = '<span class="usage-estimated"'
    totals = re.search(r'data-testid="usage-totals">(.*?)</dl>', page, re.DOTALL).group(1)
    assert re.search(rf'data-total="tokens">{about}[^>]*>≈</span>.*?about </span>4,040<', totals)
    assert 'data-total="calls">3<' in totals  # a count of calls is exact
    assert "1 call reported no usage" in page
    # By user: app-user's figures include the estimate, other-app-user's do not.
    by_user = re.search(r'id="usage-by-user">(.*?)</table>', page, re.DOTALL).group(1)
    app_row, other_row = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", by_user, re.DOTALL)
    assert app_row.startswith("app-user") and about in app_row
    assert other_row.startswith("other-app-user") and about not in other_row
    # By model: only gpt-5-mini had an estimated call.
    by_model = re.search(r'id="usage-by-model">(.*?)</table>', page, re.DOTALL).group(1)
    marked = [row.split("<", 1)[0] for row in re.findall(
        r'<tr>\s*<th scope="row">(.*?)</tr>', by_model, re.DOTALL) if about in row]  # fmt: skip
    assert marked == ["gpt-5-mini"]

    _, body = await _get_csv(settings_manager, {"period": "7"})
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["model"], r["estimated"]) for r in rows] == [
        ("gpt-5", ""),
        ("gpt-5-mini", "≈"),
        ("gpt-5", ""),
    ]
    assert sum(int(r["total_tokens"]) for r in rows) == 4_040  # the figures stay numbers
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_csv_cells_cannot_start_a_spreadsheet_formula(settings_manager, app_user):
    await sync_to_async(ledger_row)(
        app_user, timezone.now(), model="=HYPERLINK(1)", output_tokens=1
    )

    _, body = await _get_csv(settings_manager, {"period": "7"})

    (row,) = csv.DictReader(io.StringIO(body))
    assert row["model"] == "'=HYPERLINK(1)"


@pytest.mark.django_db(transaction=True)
async def test_csv_refuses_a_bad_period_with_the_reason(settings_manager):
    client = AsyncClient()
    await client.aforce_login(settings_manager)
    response = await client.get(CSV, {"period": "custom", "start": "2025-02-01"})
    await sync_to_async(connections.close_all)()

    assert response.status_code == 400
    assert response.content.decode() == "Invalid period: Enter the last day of the period."


# Group budgets and models ----------------------------------------------------------------


def _post_policy(client, group, **fields):
    data = {"group": group.pk}
    for name, value in fields.items():
        data[f"group-{group.pk}-{name}"] = value
    return client.post(GROUPS, data)


def test_groups_page_lists_groups_with_the_allowed_models(client, settings_manager):
    configure()
    group_with_policy("Interns", budget=2_500, models=["openai:gpt-5-mini"])
    client.force_login(settings_manager)

    html = client.get(GROUPS).content.decode()

    assert "App users" in html and "Interns" in html
    assert "2,500 tokens per day" in html
    assert 'value="openai:gpt-5-mini" checked' in html
    assert 'value="anthropic:claude-haiku-4-5">' in html


def test_saving_a_budget_and_model_subset_restricts_the_group(client, settings_manager, app_user):
    current = configure()
    client.force_login(settings_manager)
    group = group_with_policy("Interns", [app_user])
    GroupAIPolicy.objects.filter(group=group).delete()

    response = _post_policy(
        client, group, daily_token_budget="5000", model_access="only",
        models=["openai:gpt-5-mini", "anthropic:claude-haiku-4-5"],
    )  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == f"{GROUPS}#group-{group.pk}"
    policy = GroupAIPolicy.objects.get(group=group)
    assert policy.daily_token_budget == 5_000
    assert policy.allowed_models == ["openai:gpt-5-mini", "anthropic:claude-haiku-4-5"]
    assert [m.key for m in usage.models_for_user(app_user, current)] == [
        "openai:gpt-5-mini", "anthropic:claude-haiku-4-5",
    ]  # fmt: skip
    assert usage.daily_budget(app_user, current) == 5_000
    entry = SettingsAuditEntry.objects.get()
    assert entry.user == settings_manager
    assert {
        "field": "Group “Interns” daily token budget",
        "change": "none → 5,000",
    } in entry.changes
    assert "Saved the AI policy of “Interns”." in client.get(GROUPS).content.decode()


def test_no_restriction_and_no_budget_removes_the_policy(client, settings_manager, app_user):
    current = configure()
    client.force_login(settings_manager)
    group = group_with_policy("Interns", [app_user], budget=10, models=["openai:gpt-5"])

    _post_policy(client, group, daily_token_budget="", model_access="all")

    assert not GroupAIPolicy.objects.filter(group=group).exists()
    assert usage.models_for_user(app_user, current) == current.models


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"model_access": "only"}, "models",
         "Pick at least one model, or choose “All allowed models”."),
        ({"model_access": "all", "daily_token_budget": "0"}, "daily_token_budget",
         "Ensure this value is greater than or equal to 1."),
        ({"model_access": "all", "daily_token_budget": "lots"}, "daily_token_budget",
         "Enter a whole number."),
        ({"model_access": "only", "models": ["openai:gpt-4"]}, "models",
         "Select a valid choice. openai:gpt-4 is not one of the available choices."),
    ],
)  # fmt: skip
def test_bad_policy_is_refused_and_nothing_changes(
    client, settings_manager, fields, field, message
):
    configure()
    client.force_login(settings_manager)
    group = group_with_policy("Interns", budget=700, models=None)

    response = _post_policy(client, group, **fields)

    assert response.status_code == 400
    assert message in response.content.decode()
    policy = GroupAIPolicy.objects.get(group=group)
    assert (policy.daily_token_budget, policy.allowed_models) == (700, None)
    assert not SettingsAuditEntry.objects.exists()


def test_model_that_is_no_longer_allowed_stays_until_unchecked(client, settings_manager):
    configure(openai_allowed_models=["gpt-5"])
    client.force_login(settings_manager)
    group = group_with_policy("Interns", models=["openai:gpt-5", "openai:gpt-4.1"])

    html = client.get(GROUPS).content.decode()
    assert "Not allowed now" in html
    assert 'value="openai:gpt-4.1" checked' in html

    _post_policy(client, group, daily_token_budget="9", model_access="only",
                 models=["openai:gpt-5", "openai:gpt-4.1"])  # fmt: skip
    assert GroupAIPolicy.objects.get(group=group).allowed_models == [
        "openai:gpt-5",
        "openai:gpt-4.1",
    ]


def test_unknown_group_is_404(client, settings_manager):
    configure()
    client.force_login(settings_manager)
    assert client.post(GROUPS, {"group": 987654}).status_code == 404


def test_policies_cannot_change_while_ai_is_disabled(client, settings_manager, settings):
    settings.AI_ENABLED = False
    configure()
    client.force_login(settings_manager)
    group = group_with_policy("Interns")

    assert "disabled by the environment" in client.get(GROUPS).content.decode()
    response = _post_policy(client, group, daily_token_budget="5", model_access="all")

    assert response.status_code == 403
    assert GroupAIPolicy.objects.get(group=group).daily_token_budget is None


def test_settings_page_links_to_usage_and_group_policies(client, settings_manager):
    configure()
    client.force_login(settings_manager)

    html = client.get(reverse("ai_settings:settings")).content.decode()

    assert f'href="{USAGE}"' in html
    assert f'href="{GROUPS}"' in html
