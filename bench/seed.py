"""The bench's data: AI settings with OpenAI-compatible providers pointing at the fake
upstreams, users with App access and their sessions, empty conversations to send to, and the
large data sets of the page measurements (providers × models, a long conversation, a big
usage ledger). The query-count tests (tests/config/test_bench_queries.py) use the same
builders at a small and a large size."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider
from assistant.models import Attachment, Conversation, Message, ToolCall, UsageRecord
from prompts.users import User

APP_USERS = "App users"
PASSWORD = "bench password, loopback only"
BACKEND = "django.contrib.auth.backends.ModelBackend"
UNUSED_BASE_URL = "http://127.0.0.1:9/v1"  # providers of the page measurement only

ANSWER = """Here is what I found:

## Orders this week
- **12 new orders**, 3 of them over 500 €.
- The largest is [order 4711](/admin/shop/order/4711/).

| day | orders |
| --- | --- |
| Mon | 4 |
| Tue | 8 |

```python
total = sum(order.amount for order in orders)
```
"""


def app_users_group() -> Group:
    group, _ = Group.objects.get_or_create(name=APP_USERS)
    group.permissions.add(
        Permission.objects.get(content_type__app_label="assistant", codename="app_access")
    )
    return group


def configure_ai(**fields: Any) -> AISettings:
    """No rate limit or budget in the way of the measurements, unless given; a new version
    so every worker rebuilds its settings snapshot."""
    row = AISettings.load()
    row.rate_limit_per_minute = fields.pop("rate_limit_per_minute", 1_000_000)
    row.daily_token_budget = fields.pop("daily_token_budget", None)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    bump_version()
    return row


def bump_version() -> None:
    from django.db.models import F

    AISettings.objects.filter(pk=1).update(version=F("version") + 1)


def compatible_providers(
    count: int, models_each: int, base_urls: Sequence[str] = ()
) -> list[CompatibleProvider]:
    """`count` more providers of `models_each` models; the first ones take `base_urls`."""
    providers = []
    existing = CompatibleProvider.objects.count()
    with transaction.atomic():
        for number in range(existing, existing + count):
            index = number - existing
            base_url = base_urls[index] if index < len(base_urls) else UNUSED_BASE_URL
            provider = CompatibleProvider.objects.create(
                name=f"Provider {number + 1:02d}",
                base_url=base_url,
                api_key=f"sk-bench-{number:02d}",
                position=number,
            )
            CompatibleModel.objects.bulk_create(
                CompatibleModel(
                    provider=provider,
                    model_id=f"model-{model + 1:02d}",
                    display_name=f"Model {model + 1:02d} of provider {number + 1:02d}",
                    context_window=128_000,
                    max_output=4096,
                    input_price=Decimal("0.50"),
                    output_price=Decimal("1.50"),
                    position=model,
                )
                for model in range(models_each)
            )
            providers.append(provider)
        bump_version()
    return providers


def model_key(provider: CompatibleProvider, model_id: str = "model-01") -> str:
    return f"compat-{provider.pk}:{model_id}"


def app_users(count: int, *, prefix: str = "bench-user", password: str | None = None) -> list[Any]:
    """Users in the App users group. Only a given password is hashed (hashing is slow)."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    unusable = make_password(None)
    users = model.objects.bulk_create(
        model(username=f"{prefix}-{number:04d}", password=unusable) for number in range(count)
    )
    users = list(model.objects.filter(username__startswith=f"{prefix}-").order_by("username"))
    group = app_users_group()
    group.user_set.add(*users)
    if password is not None:
        for user in users:
            user.set_password(password)
            user.save(update_fields=["password"])
    return users


def session_for(user: User) -> str:
    """A signed-in session in the database, as the login view would have stored it."""
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = BACKEND
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    assert store.session_key is not None  # create() saved it under a new key
    return store.session_key


def empty_conversations(users: Sequence[Any], per_user: int) -> list[list[int]]:
    """`per_user` empty conversations for each user: [[ids of user 0], [ids of user 1], …]."""
    Conversation.objects.bulk_create(
        Conversation(user=user, title=f"Bench {number}")
        for user in users
        for number in range(per_user)
    )
    ids: dict[int, list[int]] = {user.pk: [] for user in users}
    for pk, user_id in Conversation.objects.filter(user__in=users).values_list("pk", "user_id"):
        ids[user_id].append(pk)
    return [sorted(ids[user.pk]) for user in users]


def long_conversation(user: User, messages: int, model: str = "model-01") -> Conversation:
    """A conversation of `messages` messages, alternating question and markdown answer; every
    tenth answer made a tool call and every 25th question carries a file."""
    conversation = Conversation.objects.create(user=user, title="A long conversation")
    rows = []
    for number in range(messages):
        if number % 2 == 0:
            rows.append(
                Message(
                    conversation=conversation,
                    role=Message.Role.USER,
                    content=f"Question {number // 2 + 1}: how many orders came in this week?",
                )
            )
        else:
            rows.append(
                Message(
                    conversation=conversation,
                    role=Message.Role.ASSISTANT,
                    content=ANSWER,
                    provider="Provider 01",
                    model=model,
                    input_tokens=1200,
                    output_tokens=180,
                    time_to_first_token_ms=230,
                    total_time_ms=2100,
                    finish_reason="stop",
                )
            )
    Message.objects.bulk_create(rows)
    saved = list(conversation.messages.order_by("id"))
    ToolCall.objects.bulk_create(
        ToolCall(
            message=message,
            call_id=f"call_{message.pk}",
            name="search_records",
            arguments={"model": "auth.user", "query": "ada"},
            status=ToolCall.Status.DONE,
            result='{"count": 1}',
        )
        for message in saved[1::20]
    )
    Attachment.objects.bulk_create(
        Attachment(
            message=message,
            filename=f"notes-{message.pk}.txt",
            content_type="text/plain",
            size=12,
            data=b"hello, bench",
        )
        for message in saved[0::50]
    )
    return conversation


@dataclass(frozen=True)
class LedgerShape:
    providers: tuple[tuple[str, str, str], ...] = (
        ("OpenAI", "openai", "gpt-5"),
        ("OpenAI", "openai", "gpt-5-mini"),
        ("Anthropic", "anthropic", "claude-sonnet-4-5"),
        ("Google", "google", "gemini-2.5-flash"),
        ("Provider 01", "compat-1", "model-01"),
    )
    days: int = 30


def ledger(
    rows: int, users: Sequence[Any], shape: LedgerShape = LedgerShape(), seed: int = 7
) -> None:
    """`rows` ledger rows spread over the last `shape.days` days (the usage page's default
    period), over the given users and a few providers and models."""
    chooser = random.Random(seed)
    now = timezone.now()
    last_second = shape.days * 86400 - 3600
    field = UsageRecord._meta.get_field("created_at")
    field.auto_now_add = False  # keep the chosen times (bulk_create would stamp "now")
    try:
        batch: list[UsageRecord] = []
        for number in range(rows):
            provider, provider_key, model = shape.providers[number % len(shape.providers)]
            input_tokens = chooser.randint(100, 4000)
            output_tokens = chooser.randint(20, 1500)
            batch.append(
                UsageRecord(
                    user=users[number % len(users)],
                    provider=provider,
                    provider_key=provider_key,
                    model=model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost=Decimal(input_tokens + 3 * output_tokens) / Decimal(1_000_000),
                    duration_ms=chooser.randint(200, 9000),
                    outcome="ok" if number % 50 else "rate_limited",
                    created_at=now - timedelta(seconds=chooser.randint(0, last_second)),
                )
            )
            if len(batch) == 5000:
                UsageRecord.objects.bulk_create(batch)
                batch = []
        if batch:
            UsageRecord.objects.bulk_create(batch)
    finally:
        field.auto_now_add = True


def superuser(username: str = "bench-admin") -> Any:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    user = model(username=username, is_staff=True, is_superuser=True)
    user.set_unusable_password()
    user.save()
    return user
