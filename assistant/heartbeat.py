"""Telling an answer whose worker died mid-stream from one still being written.

The worker streaming an answer refreshes its Message.heartbeat_at every HEARTBEAT_SECONDS
(assistant.stream_watch, batched with the Stop-flag reads, so also while the provider is
silent). An answer still "streaming" whose heartbeat is older than STALE_AFTER has no worker
any more (it crashed, or its host went away): its conversation shows it as interrupted (the
page only reads), and the next turn in that conversation stores it so, with the text its last
progress save kept. Were a live worker ever taken for dead, its final save would still store
the answer as it ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from assistant.models import Message

HEARTBEAT_SECONDS = 5.0
STALE_AFTER = 30.0  # several missed heartbeats


def stale_before() -> datetime:
    """A streaming answer whose heartbeat is older than this has lost its worker."""
    return timezone.now() - timedelta(seconds=STALE_AFTER)


def is_abandoned(message: Message, cutoff: datetime) -> bool:
    """The answer still says "streaming" but its worker is gone (heartbeat before `cutoff`)."""
    return message.status == Message.Status.STREAMING and message.heartbeat_at < cutoff


def interrupt_abandoned(conversation_id: int) -> int:
    """Store the conversation's answers that lost their worker as interrupted; how many."""
    return Message.objects.filter(
        conversation_id=conversation_id,
        status=Message.Status.STREAMING,
        heartbeat_at__lt=stale_before(),
    ).update(status=Message.Status.INTERRUPTED, finish_reason="interrupted")
