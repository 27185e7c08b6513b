"""The usage ledger, admission (rate limit and daily token budget) and per-group models."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.utils import timezone

from assistant import usage
from assistant.models import Conversation, UsageRecord, UsageReservation
from assistant.providers.events import Usage
from tests.support.usage import add_compatible_provider, configure, group_with_policy, ledger_row

pytestmark = pytest.mark.django_db


def admit(user, current, model, estimated_input_tokens: int = 100) -> usage.Admission:
    return async_to_sync(usage.admit)(
        user, current, model, estimated_input_tokens=estimated_input_tokens
    )


# The ledger ------------------------------------------------------------------------------


def test_ledger_row_records_tokens_cost_duration_and_outcome(app_user):
    current = configure()
    model = current.model("openai:gpt-5")  # $1.25 in, $10 out per million tokens
    conversation = Conversation.objects.create(user=app_user, title="Plans")

    record = usage.record_usage(
        user=app_user,
        conversation=conversation,
        model=model,
        usage=Usage(input_tokens=1_000, output_tokens=2_000, reasoning_tokens=500),
        duration_ms=1234,
    )

    stored = UsageRecord.objects.get(pk=record.pk)
    assert (stored.user, stored.conversation) == (app_user, conversation)
    assert (stored.provider, stored.provider_key, stored.model) == ("OpenAI", "openai", "gpt-5")
    assert (stored.input_tokens, stored.output_tokens, stored.reasoning_tokens) == (1000, 2000, 500)
    assert stored.cost == Decimal("0.021250")
    assert (stored.duration_ms, stored.outcome) == (1234, "ok")


def test_compatible_model_with_prices_gets_a_cost(app_user):
    add_compatible_provider("Ollama", input_price=Decimal("0.5"), output_price=Decimal("1.5"))
    model = next(m for m in configure().models if m.provider_label == "Ollama")

    record = usage.record_usage(
        user=app_user, model=model, usage=Usage(2_000_000, 1_000_000), duration_ms=5
    )

    assert (record.provider, record.model) == ("Ollama", "qwen3:8b")
    assert record.provider_key.startswith("compat-")
    assert record.cost == Decimal("2.5")


def test_compatible_model_without_prices_has_unknown_cost(app_user):
    add_compatible_provider("LM Studio")
    model = next(m for m in configure().models if m.provider_label == "LM Studio")

    record = usage.record_usage(user=app_user, model=model, usage=Usage(10, 20), duration_ms=5)

    assert record.cost is None
    assert (record.input_tokens, record.output_tokens) == (10, 20)


def test_failed_call_without_usage_is_recorded_with_its_error_kind(app_user):
    model = configure().model("anthropic:claude-haiku-4-5")

    record = usage.record_usage(
        user=app_user, model=model, usage=None, duration_ms=80, outcome="auth"
    )

    stored = UsageRecord.objects.get(pk=record.pk)
    assert (stored.outcome, stored.input_tokens, stored.output_tokens, stored.cost) == (
        "auth", 0, 0, None,
    )  # fmt: skip
    assert (stored.provider, stored.model) == ("Anthropic", "claude-haiku-4-5")
    assert not stored.estimated


def test_estimated_usage_is_marked_and_priced_like_reported_usage(app_user):
    model = configure().model("openai:gpt-5")  # $1.25 in, $10 out per million tokens

    record = usage.record_usage(
        user=app_user,
        model=model,
        usage=Usage(input_tokens=1_000, output_tokens=2_000),
        duration_ms=50,
        outcome="stopped",
        estimated=True,
    )

    stored = UsageRecord.objects.get(pk=record.pk)
    assert stored.estimated
    assert (stored.input_tokens, stored.output_tokens) == (1_000, 2_000)
    assert stored.cost == Decimal("0.021250")


@pytest.mark.django_db(transaction=True)
async def test_async_ledger_write_for_a_stopped_call(app_user):
    from asgiref.sync import sync_to_async

    current = await sync_to_async(configure)()
    record = await usage.arecord_usage(
        user=app_user,
        model=current.model("openai:gpt-5-mini"),
        usage=Usage(100, 40),
        duration_ms=300,
        outcome=usage.STOPPED,
    )
    stored = await UsageRecord.objects.aget(pk=record.pk)
    await sync_to_async(connections.close_all)()  # the ORM's worker thread outlives the test
    assert (stored.outcome, stored.output_tokens) == ("stopped", 40)


# Rate limit ------------------------------------------------------------------------------


def test_rate_limit_refuses_with_429_and_the_wait_time(app_user):
    current = configure(rate_limit_per_minute=3)
    model = current.model("openai:gpt-5")
    assert all(admit(app_user, current, model).admitted for _ in range(3))
    # The three messages were sent 48 s ago: the first leaves the window in 12 s.
    UsageReservation.objects.filter(user=app_user).update(
        created_at=timezone.now() - timedelta(seconds=48)
    )

    refused = admit(app_user, current, model)

    assert not refused.admitted
    assert refused.status == 429
    assert refused.reason == "rate_limit"
    assert refused.message == "You can send another message in 12 s."
    assert refused.headers == {"Retry-After": "12"}


def test_refused_messages_do_not_count_toward_the_rate_limit(app_user):
    current = configure(rate_limit_per_minute=2)
    model = current.model("openai:gpt-5")
    admit(app_user, current, model), admit(app_user, current, model)
    assert [admit(app_user, current, model).admitted for _ in range(5)] == [False] * 5

    UsageReservation.objects.filter(user=app_user).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )

    assert admit(app_user, current, model).admitted


def test_spent_reservations_are_swept_so_the_table_does_not_grow(app_user):
    current = configure(rate_limit_per_minute=100)
    model = current.model("openai:gpt-5")
    for _ in range(usage.CLEANUP_EVERY):  # one of any CLEANUP_EVERY admissions sweeps
        usage.settle_sync(admit(app_user, current, model))
        UsageReservation.objects.filter(user=app_user).update(
            created_at=timezone.now() - timedelta(minutes=2)  # out of the rate window
        )
    assert UsageReservation.objects.filter(user=app_user).count() < usage.CLEANUP_EVERY


def test_rate_limit_is_per_user(app_user, other_app_user):
    current = configure(rate_limit_per_minute=1)
    model = current.model("openai:gpt-5")
    assert admit(app_user, current, model).admitted
    assert not admit(app_user, current, model).admitted
    assert admit(other_app_user, current, model).admitted


# Daily budget ----------------------------------------------------------------------------


def test_reset_text_names_the_next_midnight_and_the_time_left():
    now = datetime(2025, 1, 15, 18, 48, tzinfo=UTC)
    assert usage.reset_text(now) == "00:00 UTC (in 5 h 12 min)"
    assert usage.reset_text(now.replace(hour=23, minute=59, second=30)) == "00:00 UTC (in 1 min)"


def test_budget_day_follows_the_site_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    now = datetime(2025, 1, 15, 18, 48, tzinfo=UTC)  # 19:48 in Paris
    assert usage.reset_text(now) == "00:00 CET (in 4 h 12 min)"
    assert usage.day_start(now) == datetime(2025, 1, 14, 23, 0, tzinfo=UTC)


def test_spent_budget_refuses_with_the_reset_time(app_user):
    current = configure(daily_token_budget=1_000)
    ledger_row(app_user, timezone.now(), input_tokens=400, output_tokens=600)

    refused = admit(app_user, current, current.model("openai:gpt-5"))

    assert not refused.admitted
    assert (refused.status, refused.reason) == (429, "budget")
    assert refused.message.startswith("Your daily token budget is used up; it resets at 00:00 UTC")
    now = timezone.now()
    assert refused.message.endswith(
        f"(in {usage._wait_text((usage.next_reset(now) - now).total_seconds())})."
    )
    assert 0 < refused.retry_after <= 24 * 3600


def test_yesterdays_usage_does_not_count_against_today(app_user):
    current = configure(daily_token_budget=1_000)
    ledger_row(
        app_user, usage.day_start(timezone.now()) - timedelta(minutes=1), output_tokens=5_000
    )

    assert admit(app_user, current, current.model("openai:gpt-5")).admitted
    assert usage.remaining_budget(app_user, current) == 1_000


def test_no_budget_means_unlimited(app_user):
    current = configure(daily_token_budget=None)
    ledger_row(app_user, timezone.now(), output_tokens=10_000_000)

    assert admit(app_user, current, current.model("openai:gpt-5")).admitted
    assert usage.remaining_budget(app_user, current) is None


def test_remaining_budget_counts_todays_ledger(app_user):
    current = configure(daily_token_budget=1_000)
    ledger_row(app_user, timezone.now(), input_tokens=100, output_tokens=150)
    assert usage.remaining_budget(app_user, current) == 750
    ledger_row(app_user, timezone.now(), input_tokens=2_000)
    assert usage.remaining_budget(app_user, current) == 0


def test_message_in_progress_holds_the_rest_of_the_budget_until_settled(app_user):
    current = configure(daily_token_budget=1_000)
    model = current.model("openai:gpt-5")
    first = admit(app_user, current, model)  # reserves its input and GPT-5's max output
    assert first.admitted and first.reserved_tokens >= 1_000

    second = admit(app_user, current, model)
    assert not second.admitted
    assert second.reason == "budget"
    assert "reserved by messages still in progress" in second.message

    usage.record_usage(user=app_user, model=model, usage=Usage(100, 50), duration_ms=10)
    async_to_sync(usage.settle)(first)

    assert admit(app_user, current, model).admitted
    assert usage.remaining_budget(app_user, current) == 850


def test_reservation_of_a_message_that_never_settled_expires(app_user):
    current = configure(daily_token_budget=1_000)
    model = current.model("openai:gpt-5")
    assert admit(app_user, current, model).admitted
    assert not admit(app_user, current, model).admitted

    UsageReservation.objects.filter(user=app_user).update(
        created_at=timezone.now() - usage.RESERVATION_TTL - timedelta(seconds=1)
    )

    assert admit(app_user, current, model).admitted


def test_reservation_is_the_messages_own_input_plus_the_models_max_output(app_user):
    current = configure(daily_token_budget=1_000_000)
    yesterday = timezone.now() - timedelta(days=1)
    for _ in range(3):  # small recent calls say nothing about this message
        ledger_row(app_user, yesterday, input_tokens=10, output_tokens=10)
    model = current.model("openai:gpt-5")  # max output 128,000

    admission = admit(app_user, current, model, estimated_input_tokens=24_000)

    assert admission.reserved_tokens == 24_000 + 128_000
    assert UsageReservation.objects.get(pk=admission.reservation_id).tokens == 152_000


def test_a_further_call_re_reserves_for_itself_while_the_budget_lasts(app_user):
    current = configure(daily_token_budget=1_000)
    model = current.model("openai:gpt-5")
    admission = admit(app_user, current, model, estimated_input_tokens=300)
    usage.record_usage(user=app_user, model=model, usage=Usage(300, 200), duration_ms=10)

    next_call = usage.reserve_call_sync(admission, model, estimated_input_tokens=450)

    assert next_call.admitted
    assert next_call.reserved_tokens == 450 + 128_000
    assert UsageReservation.objects.get(pk=admission.reservation_id).tokens == 128_450
    # The turn's own reservation does not stand in its way; its spent tokens do.
    usage.record_usage(user=app_user, model=model, usage=Usage(450, 50), duration_ms=10)
    refused = usage.reserve_call_sync(next_call, model, estimated_input_tokens=600)
    assert not refused.admitted
    assert refused.message.startswith("Your daily token budget is used up")
    assert UsageReservation.objects.get(pk=admission.reservation_id).tokens == 128_450


def test_a_further_call_is_refused_while_other_messages_hold_the_rest(app_user):
    current = configure(daily_token_budget=130_000)
    model = current.model("openai:gpt-5")
    turn = admit(app_user, current, model, estimated_input_tokens=100)
    assert admit(app_user, current, model, estimated_input_tokens=100).admitted  # another tab
    usage.record_usage(user=app_user, model=model, usage=Usage(1_500, 500), duration_ms=10)

    # 2,000 spent + the other tab's 128,100 reserved: nothing is left for a further call.
    refused = usage.reserve_call_sync(turn, model, estimated_input_tokens=100)

    assert not refused.admitted
    assert "reserved by messages still in progress" in refused.message


def test_group_budget_largest_override_wins(app_user):
    current = configure(daily_token_budget=100)
    group_with_policy("Interns", [app_user], budget=300)
    group_with_policy("Researchers", [app_user], budget=5_000)
    group_with_policy("Models only", [app_user], models=["openai:gpt-5"])
    ledger_row(app_user, timezone.now(), output_tokens=1_000)

    assert usage.daily_budget(app_user, current) == 5_000
    assert usage.remaining_budget(app_user, current) == 4_000
    assert admit(app_user, current, current.model("openai:gpt-5")).admitted


def test_group_budget_replaces_the_site_budget(app_user, other_app_user):
    current = configure(daily_token_budget=10_000)
    group_with_policy("Interns", [app_user], budget=500)
    ledger_row(app_user, timezone.now(), output_tokens=600)
    ledger_row(other_app_user, timezone.now(), output_tokens=600)

    assert not admit(app_user, current, current.model("openai:gpt-5")).admitted
    assert admit(other_app_user, current, current.model("openai:gpt-5")).admitted


# Atomic across concurrent requests -------------------------------------------------------


def _admit_concurrently(user, current, model, count: int) -> list[usage.Admission]:
    """`count` admissions at once, each in its own thread with its own database connection."""
    results: list[usage.Admission] = []
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run() -> None:
        try:
            start.wait()
            results.append(admit(user, current, model, estimated_input_tokens=20))
        except BaseException as error:  # noqa: BLE001 (surfaced by the assertion below)
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_messages_admit_only_what_the_budget_covers(app_user):
    add_compatible_provider("Ollama", max_output=80)
    current = configure(daily_token_budget=500)
    model = next(m for m in current.models if m.provider_label == "Ollama")
    # Each message reserves 20 input + 80 max output: the budget covers five.
    results = _admit_concurrently(app_user, current, model, 20)

    admitted = [r for r in results if r.admitted]
    refused = [r for r in results if not r.admitted]
    assert len(admitted) == 5
    assert len(refused) == 15
    assert all(r.status == 429 and "daily token budget" in r.message for r in refused)

    # The five finish, each using what was estimated: the budget is spent, not overshot.
    for admission in admitted:
        usage.record_usage(user=app_user, model=model, usage=Usage(20, 80), duration_ms=10)
        async_to_sync(usage.settle)(admission)
    assert usage.remaining_budget(app_user, current) == 0
    after = admit(app_user, current, model)
    assert not after.admitted
    assert after.message.startswith("Your daily token budget is used up")


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_messages_respect_the_rate_limit(app_user):
    current = configure(rate_limit_per_minute=3, daily_token_budget=None)

    results = _admit_concurrently(app_user, current, current.model("openai:gpt-5"), 20)

    assert sum(r.admitted for r in results) == 3
    assert {r.reason for r in results if not r.admitted} == {"rate_limit"}


# Per-group model access ------------------------------------------------------------------


def test_user_in_no_restricted_group_sees_every_allowed_model(app_user):
    current = configure()
    group_with_policy("Budget only", [app_user], budget=1_000)

    assert usage.models_for_user(app_user, current) == current.models


def test_restricted_group_sees_only_its_models(app_user, other_app_user):
    current = configure()
    group_with_policy("Interns", [app_user], models=["openai:gpt-5-mini"])

    assert [m.key for m in usage.models_for_user(app_user, current)] == ["openai:gpt-5-mini"]
    assert len(usage.models_for_user(other_app_user, current)) == len(current.models) == 3


def test_user_in_several_restricted_groups_sees_the_union(app_user):
    current = configure()
    group_with_policy("Interns", [app_user], models=["openai:gpt-5-mini"])
    group_with_policy("Writers", [app_user], models=["anthropic:claude-haiku-4-5"])
    group_with_policy("Budget only", [app_user], budget=10)

    keys = [m.key for m in usage.models_for_user(app_user, current)]
    assert keys == ["openai:gpt-5-mini", "anthropic:claude-haiku-4-5"]


def test_restricted_model_no_longer_allowed_disappears(app_user):
    group_with_policy("Interns", [app_user], models=["openai:gpt-5-mini", "openai:gpt-4.1"])
    current = configure(openai_allowed_models=["gpt-5"])

    assert usage.models_for_user(app_user, current) == ()


async def _parts(*parts: str, fail: bool = False):
    for part in parts:
        yield part
    if fail:
        raise RuntimeError("the stream broke")


async def _reserved(user) -> bool:
    return await UsageReservation.objects.filter(user=user, settled_at__isnull=True).aexists()


@pytest.mark.django_db(transaction=True)
async def test_streamed_answer_releases_its_reservation_however_it_ends(app_user):
    from asgiref.sync import sync_to_async

    current = await sync_to_async(configure)(daily_token_budget=10_000)
    model = current.model("openai:gpt-5")

    finished = await usage.admit(app_user, current, model, estimated_input_tokens=10)
    assert [p async for p in usage.releasing(finished, _parts("a", "b"))] == ["a", "b"]
    assert not await _reserved(app_user)

    failed = await usage.admit(app_user, current, model, estimated_input_tokens=10)
    with pytest.raises(RuntimeError):
        async for _ in usage.releasing(failed, _parts("a", fail=True)):
            pass
    assert not await _reserved(app_user)

    # The client went away:
    abandoned = await usage.admit(app_user, current, model, estimated_input_tokens=10)
    stream = usage.releasing(abandoned, _parts("a", "b", "c"))
    assert await anext(stream) == "a"
    assert await _reserved(app_user)
    await stream.aclose()
    assert not await _reserved(app_user)
    await sync_to_async(connections.close_all)()
