"""The usage report: ledger totals for a period by day and provider, by user and by model.

Everything is aggregated in the database, in three queries whatever the number of ledger
rows. Days are calendar days in settings.TIME_ZONE, as for the daily budgets. A total that
includes estimated calls (the provider reported no usage) is itself an estimate: the page
marks it "≈".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from assistant.models import UsageRecord


@dataclass(frozen=True)
class Period:
    """Calendar days from `start` to `end`, both included."""

    start: date
    end: date

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Period:
        today = today or timezone.localdate(timezone=timezone.get_default_timezone())
        return cls(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """From the first day's midnight to the midnight after the last day, in TIME_ZONE."""
        zone = timezone.get_default_timezone()
        return (
            datetime.combine(self.start, time.min, tzinfo=zone),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone),
        )


@dataclass
class Totals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = Decimal(0)
    calls_without_price: int = 0
    failed_calls: int = 0
    estimated_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def estimated(self) -> bool:
        """Some of these figures are estimates, not the providers' own counts."""
        return self.estimated_calls > 0

    @property
    def priced_calls(self) -> int:
        return self.calls - self.calls_without_price

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost += other.cost
        self.calls_without_price += other.calls_without_price
        self.failed_calls += other.failed_calls
        self.estimated_calls += other.estimated_calls


@dataclass
class Row:
    """One line of a table: what it is about (a day, a user, a model) and its totals."""

    label: str
    totals: Totals = field(default_factory=Totals)
    detail: str = ""


@dataclass
class Report:
    period: Period
    totals: Totals
    by_day: list[Row]  # days with usage, oldest first
    by_user: list[Row]  # most tokens first
    by_model: list[Row]  # most tokens first
    providers: list[str]  # most tokens first
    tokens_by_day_and_provider: dict[tuple[date, str], int]


# Annotation names differ from the field names: an annotation named like a field would
# shadow it in the filters below.
TOTALS = {
    "total_calls": Count("id"),
    "total_input": Sum("input_tokens"),
    "total_output": Sum("output_tokens"),
    "total_reasoning": Sum("reasoning_tokens"),
    "total_cost": Sum("cost"),
    "calls_without_price": Count("id", filter=Q(cost__isnull=True)),
    "failed_calls": Count("id", filter=~Q(outcome__in=["ok", "stopped", "interrupted"])),
    "estimated_calls": Count("id", filter=Q(estimated=True)),
}


def _totals(values: Mapping[str, Any]) -> Totals:
    return Totals(
        calls=values["total_calls"],
        input_tokens=values["total_input"] or 0,
        output_tokens=values["total_output"] or 0,
        reasoning_tokens=values["total_reasoning"] or 0,
        cost=values["total_cost"] or Decimal(0),
        calls_without_price=values["calls_without_price"],
        failed_calls=values["failed_calls"],
        estimated_calls=values["estimated_calls"],
    )


def records_in(period: Period) -> QuerySet[UsageRecord]:
    start, end = period.bounds()
    return UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)


def _by_tokens(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: (-row.totals.tokens, row.label))


def build(period: Period) -> Report:
    records = records_in(period).order_by()
    zone = timezone.get_default_timezone()

    totals = Totals()
    days: dict[date, Row] = {}
    provider_tokens: dict[str, int] = {}
    by_day_and_provider: dict[tuple[date, str], int] = {}
    for values in (
        records.annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "provider")
        .annotate(**TOTALS)
    ):
        row_totals = _totals(values)
        totals.add(row_totals)
        day = values["day"]
        days.setdefault(day, Row(day.isoformat())).totals.add(row_totals)
        by_day_and_provider[(day, values["provider"])] = row_totals.tokens
        provider_tokens[values["provider"]] = (
            provider_tokens.get(values["provider"], 0) + row_totals.tokens
        )

    by_user = [
        Row(values["user__username"] or "(deleted user)", _totals(values))
        for values in records.values("user_id", "user__username").annotate(**TOTALS)
    ]
    by_model = [
        Row(values["model"], _totals(values), detail=values["provider"])
        for values in records.values("provider", "model").annotate(**TOTALS)
    ]
    return Report(
        period=period,
        totals=totals,
        by_day=[days[day] for day in sorted(days)],
        by_user=_by_tokens(by_user),
        by_model=_by_tokens(by_model),
        providers=sorted(provider_tokens, key=lambda name: (-provider_tokens[name], name)),
        tokens_by_day_and_provider=by_day_and_provider,
    )
