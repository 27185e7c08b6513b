"""Usage pages for those who manage AI settings: the usage report with its chart and CSV
export, and the per-group budgets and model access."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from ai_settings.access import ai_enabled, manage_ai_settings_required
from ai_settings.current import get_current
from assistant.usage import charts
from assistant.usage import report as usage_report
from assistant.usage.forms import CUSTOM, GroupPolicyForm, PeriodForm, policy_of
from prompts.request_numbers import object_id
from prompts.users import SignedInRequest

CSV_COLUMNS = [
    "time", "user", "conversation", "provider", "provider_key", "model", "input_tokens",
    "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "duration_ms", "outcome",
    "estimated",
]  # fmt: skip
# The `estimated` cell of a row whose tokens and cost are our estimate (the provider reported
# no usage); the figures themselves stay plain numbers, so a spreadsheet can add them up.
ESTIMATED_MARK = "≈"
# A spreadsheet would run a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _period_query(period: usage_report.Period) -> str:
    return urlencode({"period": CUSTOM, "start": period.start, "end": period.end})


@manage_ai_settings_required
def usage_page(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET)
    period = form.chosen_period()
    report = usage_report.build(period)
    chart = charts.stacked_bars(
        period.days,
        report.providers,
        report.tokens_by_day_and_provider,
        title="Tokens per day by provider",
        unit="tokens",
    )
    context = {
        "form": form,
        "report": report,
        "chart": chart,
        "csv_query": _period_query(period),
        "time_zone": settings.TIME_ZONE,
    }
    return render(
        request, "assistant/usage/usage.html", context, status=200 if form.is_valid() else 400
    )


class _Line:
    """csv.writer writes into this; each row comes back as one string to stream."""

    def write(self, value: str) -> str:
        return value


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


async def _csv_lines(period: usage_report.Period) -> AsyncIterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    zone = timezone.get_default_timezone()
    # values(), not values_list(): Django's aiterator() runs values_list()'s query on the event
    # loop (its iterable is not a generator), while values() runs it in a worker thread.
    rows = (
        usage_report.records_in(period)
        .order_by("created_at", "id")
        .values(
            "created_at",
            "user__username",
            "conversation_id",
            "provider",
            "provider_key",
            "model",
            "input_tokens",
            "output_tokens",
            "reasoning_tokens",
            "cost",
            "duration_ms",
            "outcome",
            "estimated",
        )
    )
    async for row in rows.aiterator(chunk_size=2000):
        yield writer.writerow(
            [
                timezone.localtime(row["created_at"], zone).isoformat(),
                _text(row["user__username"] or ""),
                row["conversation_id"] or "",
                _text(row["provider"]),
                row["provider_key"],
                _text(row["model"]),
                row["input_tokens"],
                row["output_tokens"],
                row["reasoning_tokens"],
                row["input_tokens"] + row["output_tokens"],
                "" if row["cost"] is None else row["cost"],
                row["duration_ms"],
                _text(row["outcome"]),
                ESTIMATED_MARK if row["estimated"] else "",
            ]
        )


@manage_ai_settings_required
async def usage_csv(request: HttpRequest) -> HttpResponseBase:
    """Every ledger row of the period, oldest first, streamed without loading them all."""
    form = PeriodForm(request.GET)
    if not form.is_valid():
        reasons = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponseBadRequest(
            f"Invalid period: {reasons}", content_type="text/plain; charset=utf-8"
        )
    period = form.chosen_period()
    response = StreamingHttpResponse(_csv_lines(period), content_type="text/csv; charset=utf-8")
    filename = f"ai-usage-{period.start}-to-{period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@manage_ai_settings_required
def groups_page(request: SignedInRequest) -> HttpResponse:
    current = get_current()
    groups = list(
        Group.objects.order_by("name").select_related("ai_policy").annotate(members=Count("user"))
    )
    bound: GroupPolicyForm | None = None
    if request.method == "POST":
        if not ai_enabled():
            raise PermissionDenied(
                "AI Assistant is disabled by the environment (AI_ENABLED=false): "
                "settings can be viewed but not changed."
            )
        group = get_object_or_404(Group, pk=object_id(request.POST.get("group")))
        bound = GroupPolicyForm(request.POST, group=group, current=current)
        if bound.is_valid():
            if bound.save(request.user):
                messages.success(request, f"Saved the AI policy of “{group.name}”.")
            else:
                messages.info(request, f"No changes to the AI policy of “{group.name}”.")
            return redirect(reverse("ai_settings:groups") + f"#group-{group.pk}")
    rows = []
    for group in groups:
        form = bound if bound is not None and bound.group.pk == group.pk else None
        rows.append(
            {
                "group": group,
                "policy": policy_of(group),
                "form": form or GroupPolicyForm(group=group, current=current),
            }
        )
    context = {
        "rows": rows,
        "site_budget": current.daily_token_budget,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "assistant/usage/groups.html", context, status=400 if bound else 200)
