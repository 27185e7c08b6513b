"""Telling an answer whose worker died mid-stream from one still being written.

The worker streaming an answer refreshes its Message.heartbeat_at every HEARTBEAT_SECONDS
(assistant.stream_watch, batched with the Stop-flag reads, so also while the provider is
silent). An answer still "streaming" whose heartbeat is older than STALE_AFTER has no worker
any more (it crashed, or its host went away): when its conversation is shown or continued it
is stored as interrupted, with the text its last progress save kept. Were a live worker ever
taken for dead, its final save would still store the answer as it ends.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from assistant.models import Message

HEARTBEAT_SECONDS = 5.0
STALE_AFTER = 30.0  # several missed heartbeats


def interrupt_abandoned(conversation_id: int) -> int:
    """Store the conversation's answers that lost their worker as interrupted; how many."""
    cutoff = timezone.now() - timedelta(seconds=STALE_AFTER)
    return Message.objects.filter(
        conversation_id=conversation_id,
        status=Message.Status.STREAMING,
        heartbeat_at__lt=cutoff,
    ).update(status=Message.Status.INTERRUPTED, finish_reason="interrupted")
