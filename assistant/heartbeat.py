"""Telling an answer whose worker died mid-stream from one still being written.

The worker running a turn refreshes the Message.heartbeat_at of the answer it streams every
TURN_HEARTBEAT_SECONDS (assistant.stream_watch, batched with the Stop-flag reads, so also
while the provider is silent). An answer still "streaming" whose heartbeat is older than
TURN_STALE_AFTER seconds has no worker any more (it crashed, or its host went away): its
conversation shows it as interrupted (the page only reads), a follower of the turn stores it
so and tells the turn's other followers (assistant.turn_followers), and the next turn in that
conversation stores it so too, with the text its last progress save kept. Were a live worker
ever taken for dead, its final save would still store the answer as it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from ai_settings.conf import app_settings
from assistant.models import Message


def heartbeat_seconds() -> float:
    return float(app_settings.TURN_HEARTBEAT_SECONDS)


def stale_before() -> datetime:
    """A streaming answer whose heartbeat is older than this has lost its worker."""
    return timezone.now() - timedelta(seconds=float(app_settings.TURN_STALE_AFTER))


def is_abandoned(message: Message, cutoff: datetime) -> bool:
    """The answer still says "streaming" but its worker is gone (heartbeat before `cutoff`)."""
    return message.status == Message.Status.STREAMING and message.heartbeat_at < cutoff


def _abandoned() -> QuerySet[Message]:
    return Message.objects.filter(status=Message.Status.STREAMING, heartbeat_at__lt=stale_before())


def interrupt_abandoned(conversation_id: int) -> int:
    """Store the conversation's answers that lost their worker as interrupted; how many."""
    return _interrupt(_abandoned().filter(conversation_id=conversation_id))


# Keys per query: well under SQLite's smallest limit on query parameters (999).
BATCH = 500


def lost_turns(turn_keys: Iterable[str]) -> set[str]:
    """Those of these turns whose answer lost its worker."""
    keys = list(turn_keys)
    lost: set[str] = set()
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        lost.update(_abandoned().filter(turn_key__in=batch).values_list("turn_key", flat=True))
    return lost


def interrupt_turn(turn_key: str) -> bool:
    """Store the turn's answers that lost their worker as interrupted; False when there were
    none (its worker is alive, or another process got there first)."""
    return _interrupt(_abandoned().filter(turn_key=turn_key)) > 0


def _interrupt(messages: QuerySet[Message]) -> int:
    return messages.update(status=Message.Status.INTERRUPTED, finish_reason="interrupted")
