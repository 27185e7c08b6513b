"""Usage controls: which models a user may pick, the usage ledger, and admission (the
per-minute rate limit and the daily token budget) before any provider call.

How a chat turn uses it, per message (assistant.turns starts it, assistant.chat runs it):

    admission = admit_sync(user, current, model, estimated_input_tokens=...)
    if not admission.admitted:
        ...raise TurnRefused(admission.message, status=admission.status,
                             headers=admission.headers): the view answers with them
    ...before each further provider call of the turn:
        admission = await reserve_call(admission, model, estimated_input_tokens=...)
    ...for each provider call:
        record_usage(user=..., model=..., usage=..., duration_ms=..., outcome=...,
                     estimated=...)
    ...when the message ends: await settle(admission), or stream the answer through
    releasing(admission, events), which settles however the stream ends.

Admission is atomic across workers and hosts. Every admission for a user runs in one
transaction that first writes that user's UsageLock row, so a second admission for the same
user (any process, any host) waits for the first to commit: a row lock on PostgreSQL, the
database write lock on SQLite. Inside, it counts the user's admissions of the last minute
(rate limit) and adds today's ledger tokens to the tokens reserved by messages still in
progress (budget). An admitted message reserves what its provider call may cost: the
estimated input of the request it will send plus the model's max output. A turn with tools
makes the reservation cover each further call before making it (`reserve_call`); a call's
spent tokens are in the ledger once it ends, so the reservation only covers the call in
flight. Concurrent messages therefore cannot all start on the same remaining budget: the
budget can be overshot only by the calls already in flight when it ran out.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone

from ai_settings.catalog import AvailableModel
from ai_settings.current import CurrentSettings, get_current
from ai_settings.models import GroupAIPolicy
from assistant.models import UsageLock, UsageRecord, UsageReservation
from assistant.providers.events import Usage
from prompts.users import User

logger = logging.getLogger(__name__)

# How long a closing stream waits for its reservation to be settled. A database that is away
# must not hold the response open; an unsettled reservation expires by itself.
SETTLE_WAIT_SECONDS = 3.0
_settling: set[asyncio.Task] = set()  # keeps background settles referenced until they end

RATE_WINDOW = timedelta(minutes=1)
# A reservation whose message never settled (its worker died) stops counting after this.
RESERVATION_TTL = timedelta(minutes=15)
CLEANUP_EVERY = 10  # admissions (by reservation id) per sweep of a user's spent reservations
MILLION = Decimal(1_000_000)

OK, STOPPED, INTERRUPTED = "ok", "stopped", "interrupted"
T = TypeVar("T")


# Per-group model access ------------------------------------------------------------------


def models_for_user(user: User, current: CurrentSettings) -> tuple[AvailableModel, ...]:
    """The allowed models this user may pick.

    Only groups with a model restriction count: a user in one or more restricted groups sees
    the union of those groups' subsets (intersected with the models allowed now); a user in no
    restricted group sees every allowed model. A group without a restriction (no policy, or a
    policy with only a budget) neither narrows nor widens anyone's models, so giving a group a
    budget never changes which models its members see.
    """
    subsets = [
        subset
        for subset in GroupAIPolicy.objects.filter(
            group__user=user, allowed_models__isnull=False
        ).values_list("allowed_models", flat=True)
        if subset is not None
    ]
    if not subsets:
        return current.models
    allowed = set().union(*subsets)
    return tuple(model for model in current.models if model.key in allowed)


# The ledger ------------------------------------------------------------------------------


def estimate_cost(model: AvailableModel, input_tokens: int, output_tokens: int) -> Decimal | None:
    """USD from the model's prices per million tokens; None when a price is unknown. Output
    tokens include reasoning tokens (the adapters report them that way), billed as output."""
    if model.input_price is None or model.output_price is None:
        return None
    cost = (input_tokens * model.input_price + output_tokens * model.output_price) / MILLION
    return cost.quantize(Decimal("0.000001"))


def record_usage(
    *,
    user: User,
    model: AvailableModel,
    usage: Usage | None,
    duration_ms: int,
    outcome: str = OK,
    conversation: Any = None,
    estimated: bool = False,
) -> UsageRecord:
    """Write one ledger row for one provider call. `usage` is None when the call used
    nothing (the provider refused it): the row still records the call and its outcome.
    `estimated`: the provider reported no usage and `usage` is our estimate; it counts toward
    budgets and costs like reported usage. `outcome` is "ok", "stopped", "interrupted" or the
    error kind."""
    input_tokens = usage.input_tokens if usage else 0
    output_tokens = usage.output_tokens if usage else 0
    return UsageRecord.objects.create(
        user=user if getattr(user, "pk", None) else None,
        conversation=conversation,
        provider=model.provider_label,
        provider_key=model.provider_key,
        model=model.model_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=usage.reasoning_tokens if usage else 0,
        cost=estimate_cost(model, input_tokens, output_tokens) if usage else None,
        duration_ms=max(0, int(duration_ms)),
        outcome=outcome[:40],
        estimated=estimated and usage is not None,
    )


async def arecord_usage(**kwargs: Any) -> UsageRecord:
    return await sync_to_async(record_usage)(**kwargs)


# Budgets and the day they apply to -------------------------------------------------------


def daily_budget(user: User, current: CurrentSettings) -> int | None:
    """Tokens per day for this user: the largest override among their groups' policies, or,
    when none of their groups has one, the site-wide budget. None means unlimited."""
    largest = GroupAIPolicy.objects.filter(
        group__user=user, daily_token_budget__isnull=False
    ).aggregate(largest=Max("daily_token_budget"))["largest"]
    return largest if largest is not None else current.daily_token_budget


def day_start(now: datetime) -> datetime:
    """The last midnight in settings.TIME_ZONE: budgets are per calendar day there."""
    local = timezone.localtime(now, timezone.get_default_timezone())
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)


def next_reset(now: datetime) -> datetime:
    local = timezone.localtime(now, timezone.get_default_timezone())
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)


def _wait_text(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


def reset_text(now: datetime) -> str:
    """ "00:00 UTC (in 5 h 12 min)": when today's budget resets, in the site's time zone."""
    reset = next_reset(now)
    return f"{reset:%H:%M} {reset.tzname()} (in {_wait_text((reset - now).total_seconds())})"


def tokens_used_today(user_id: int, now: datetime | None = None) -> int:
    now = now or timezone.now()
    totals = UsageRecord.objects.filter(user_id=user_id, created_at__gte=day_start(now)).aggregate(
        tokens=Sum(F("input_tokens") + F("output_tokens"))
    )
    return totals["tokens"] or 0


def remaining_budget(user: User, current: CurrentSettings | None = None) -> int | None:
    """Tokens this user has left today, or None when no budget applies to them."""
    budget = daily_budget(user, current or get_current())
    if budget is None:
        return None
    return max(0, budget - tokens_used_today(user.pk))


async def aremaining_budget(user: User, current: CurrentSettings | None = None) -> int | None:
    return await sync_to_async(remaining_budget)(user, current)


# Admission -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """The answer to "may this message go to the provider now?"."""

    admitted: bool
    user_id: int
    status: int = 200  # 429 when refused
    reason: str = ""  # "rate_limit" or "budget" when refused
    message: str = ""  # the refusal, as the chat shows it
    retry_after: int | None = None  # seconds
    budget: int | None = None  # the user's daily budget; None = unlimited
    reservation_id: int | None = None
    reserved_tokens: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def call_tokens(model: AvailableModel, estimated_input_tokens: int) -> int:
    """Tokens to reserve for one provider call: its estimated input plus the model's max
    output, the most the call can add to the ledger (give or take the input estimate)."""
    return max(1, estimated_input_tokens + model.max_output)


def _refuse(
    user_id: int, reason: str, message: str, retry_after: int, budget: int | None = None
) -> Admission:
    return Admission(
        admitted=False,
        user_id=user_id,
        status=429,
        reason=reason,
        message=message,
        retry_after=max(1, retry_after),
        budget=budget,
    )


def _lock_user(user_id: int, now: datetime) -> None:
    """Taken first in every admission, a write: it waits for any other admission of this
    user to commit (a row lock on PostgreSQL, the write lock on SQLite)."""
    if not UsageLock.objects.filter(user_id=user_id).update(locked_at=now):
        # First admission: create the row, then lock it. Concurrent creators that lost the
        # insert race must still take the row lock, or they would all run at once.
        UsageLock.objects.get_or_create(user_id=user_id, defaults={"locked_at": now})
        UsageLock.objects.filter(user_id=user_id).update(locked_at=now)


def _check_budget(
    user_id: int, budget: int, now: datetime, *, besides: int | None = None
) -> Admission | None:
    """The refusal when today's ledger plus the tokens reserved by messages in progress
    (other than the reservation `besides`) leave nothing of the budget."""
    used = tokens_used_today(user_id, now)
    reservations = UsageReservation.objects.filter(
        user_id=user_id, settled_at__isnull=True, created_at__gt=now - RESERVATION_TTL
    )
    if besides is not None:
        reservations = reservations.exclude(pk=besides)
    reserved = reservations.aggregate(tokens=Sum("tokens"))["tokens"] or 0
    until_reset = math.ceil((next_reset(now) - now).total_seconds())
    if used >= budget:
        message = f"Your daily token budget is used up; it resets at {reset_text(now)}."
        return _refuse(user_id, "budget", message, until_reset, budget)
    if used + reserved >= budget:
        message = (
            "The rest of your daily token budget is reserved by messages still in progress; "
            f"try again when they finish. Your budget resets at {reset_text(now)}."
        )
        return _refuse(user_id, "budget", message, 5, budget)
    return None


def admit_sync(
    user: User,
    current: CurrentSettings,
    model: AvailableModel,
    *,
    estimated_input_tokens: int,
) -> Admission:
    """Check the rate limit and the daily budget before a message reaches the provider, and
    reserve what its first call may cost (`call_tokens`). Every admitted message must be
    settled, whatever happens. Run it inside the transaction that stores the message: a
    refusal then rolls the message back with it (assistant.chat)."""
    user_id = user.pk
    budget = daily_budget(user, current)
    with transaction.atomic():
        now = timezone.now()
        _lock_user(user_id, now)
        recent = list(
            UsageReservation.objects.filter(user_id=user_id, created_at__gt=now - RATE_WINDOW)
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )
        limit = max(1, current.rate_limit_per_minute)
        if len(recent) >= limit:
            # The message that must leave the window before another one fits.
            frees_at = recent[len(recent) - limit] + RATE_WINDOW
            wait = math.ceil((frees_at - now).total_seconds())
            message = f"You can send another message in {max(1, wait)} s."
            return _refuse(user_id, "rate_limit", message, wait, budget)

        tokens = 0
        if budget is not None:
            refusal = _check_budget(user_id, budget, now)
            if refusal is not None:
                return refusal
            tokens = call_tokens(model, estimated_input_tokens)

        reservation = UsageReservation.objects.create(
            user_id=user_id, tokens=tokens, created_at=now
        )
        # Rows that count for nothing any more: out of the rate window and settled or expired.
        # Swept at one admission in CLEANUP_EVERY, which bounds them as well as every time.
        if reservation.pk % CLEANUP_EVERY == 0:
            UsageReservation.objects.filter(
                Q(created_at__lt=now - RATE_WINDOW, settled_at__isnull=False)
                | Q(created_at__lt=now - RESERVATION_TTL),
                user_id=user_id,
            ).delete()
    return Admission(
        admitted=True,
        user_id=user_id,
        budget=budget,
        reservation_id=reservation.pk,
        reserved_tokens=tokens,
    )


async def admit(
    user: User,
    current: CurrentSettings,
    model: AvailableModel,
    *,
    estimated_input_tokens: int,
) -> Admission:
    return await sync_to_async(admit_sync)(
        user, current, model, estimated_input_tokens=estimated_input_tokens
    )


def reserve_call_sync(
    admission: Admission, model: AvailableModel, *, estimated_input_tokens: int
) -> Admission:
    """Before a further provider call of an admitted message (the next step of a turn with
    tools): check the budget again under the user's lock, counting the turn's spent tokens
    (in the ledger by now) and the other messages' reservations, and make this message's
    reservation cover the call. The refusal (admitted=False) when the budget is spent; no
    budget (None) needs no check. The rate limit counts messages, not calls."""
    if admission.budget is None or admission.reservation_id is None:
        return admission
    tokens = call_tokens(model, estimated_input_tokens)
    with transaction.atomic():
        now = timezone.now()
        _lock_user(admission.user_id, now)
        refusal = _check_budget(
            admission.user_id, admission.budget, now, besides=admission.reservation_id
        )
        if refusal is not None:
            return refusal
        UsageReservation.objects.filter(
            pk=admission.reservation_id, settled_at__isnull=True
        ).update(tokens=tokens)
    return replace(admission, reserved_tokens=tokens)


async def reserve_call(
    admission: Admission, model: AvailableModel, *, estimated_input_tokens: int
) -> Admission:
    return await sync_to_async(reserve_call_sync)(
        admission, model, estimated_input_tokens=estimated_input_tokens
    )


def settle_sync(admission: Admission) -> None:
    """Release the message's reservation: its real tokens are in the ledger by now.
    Safe to call more than once and for refused admissions."""
    if admission.reservation_id is None:
        return
    UsageReservation.objects.filter(pk=admission.reservation_id, settled_at__isnull=True).update(
        tokens=0, settled_at=timezone.now()
    )


async def settle(admission: Admission) -> None:
    await sync_to_async(settle_sync)(admission)


async def releasing(admission: Admission, body: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """Pass a streamed answer through and settle its admission when the stream ends, however
    it ends: finished, failed, or closed because the client went away."""
    try:
        async with aclosing(body):
            async for part in body:
                yield part
    finally:
        task = asyncio.ensure_future(settle(admission))
        _settling.add(task)
        task.add_done_callback(_settle_done)
        # A failure is reported by _settle_done; the reservation expires if it never settles.
        with suppress(TimeoutError, DatabaseError):
            await asyncio.wait_for(asyncio.shield(task), SETTLE_WAIT_SECONDS)


def _settle_done(task: asyncio.Task) -> None:
    _settling.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("A usage reservation could not be settled: %s", task.exception())
