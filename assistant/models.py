"""Conversations, their messages and attachments, tool calls, users' tool preferences, and
the usage ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True, default="")
    model_key = models.CharField(max_length=260, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        # The App-access permission lives here; the "App users" group holds it.
        permissions = [("app_access", "App access")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        STREAMING = "streaming"
        STOPPED = "stopped"
        INTERRUPTED = "interrupted"
        ERROR = "error"
        AWAITING_APPROVAL = "awaiting_approval"
        AWAITING_ANSWER = "awaiting_answer"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    reasoning = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETE)
    # Set by the Stop button (any worker); the streaming worker polls it.
    stop_requested = models.BooleanField(default=False)
    # While streaming: when its worker last showed it is alive (assistant.heartbeat).
    heartbeat_at = models.DateTimeField(default=timezone.now)
    # The turn that wrote this answer (all its steps share it): the turn channel's key, by
    # which any page or tab follows the turn while it runs (assistant.turn_followers).
    turn_key = models.CharField(max_length=32, blank=True, default="", db_index=True)
    # Extra instructions for this turn only (a prompt's system prompt) and page context.
    extra_instructions = models.TextField(blank=True, default="")
    page_context = models.JSONField(null=True, blank=True)

    provider = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    total_time_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True, default="")
    error_kind = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    history_trimmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk}"


class Attachment(models.Model):
    """A file sent with a user message. Kept in the database so every worker on every host
    can read it back for later turns."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    data = models.BinaryField()

    def __str__(self) -> str:
        return self.filename


class ToolCall(models.Model):
    """One call the model made, its approval state and its result."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved"
        DENIED = "denied"
        DONE = "done"
        FAILED = "failed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tool_calls")
    call_id = models.CharField(max_length=200)
    name = models.CharField(max_length=100)
    arguments = models.JSONField(default=dict)
    # What the provider requires back with this call in the next request of the turn, also
    # after an approval (Anthropic's signed thinking blocks, Gemini's thought signature,
    # OpenAI's reasoning items): the adapter's ToolCall.provider_data.
    provider_data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    result = models.TextField(blank=True, default="")
    is_error = models.BooleanField(default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class ToolPreference(models.Model):
    class Mode(models.TextChoices):
        ALWAYS = "always", "Always"
        ASK = "ask", "Ask"
        DISABLED = "disabled", "Disabled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tool_preferences"
    )
    tool = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=Mode.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tool"], name="one_mode_per_tool")]

    def __str__(self) -> str:
        return f"{self.tool}: {self.mode} (user {self.user_id})"


class UsageRecord(models.Model):
    """The ledger: one row per provider call."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=100)  # provider label, e.g. "OpenAI", "Ollama"
    provider_key = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=200)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=40, default="ok")  # ok, stopped, or an error kind
    # The provider reported no usage for this call (none streamed, stopped, dropped, failed):
    # the tokens are estimated from the characters sent and received.
    estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.model}: {self.outcome}"


class UsageReservation(models.Model):
    """One admitted message. It counts toward the per-minute rate limit for a minute, and
    its estimated tokens stay set aside from the daily budget until the message ends (or, if
    a worker died mid-message, until the reservation expires)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        state = "settled" if self.settled_at else "open"
        return f"{self.tokens} tokens for user {self.user_id} ({state})"


class UsageLock(models.Model):
    """One row per user, written first in every admission transaction: its row lock (the
    write lock on SQLite) makes one user's concurrent admissions take turns on any worker."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Usage lock of user {self.user_id}"


class TurnEvent(models.Model):
    """One event of a chat turn, for the turn channel on PostgreSQL without Redis
    (assistant.turn_channel.postgres): followers on any worker read the rows after the last
    event they had. A turn's rows are deleted once its newest is TURN_CHANNEL_RETENTION old."""

    turn_key = models.CharField(max_length=100)
    seq = models.PositiveIntegerField()  # the event's id: 1, 2, 3… within its turn
    payload = models.TextField(blank=True, default="")
    is_last = models.BooleanField(default=False)  # the turn's end (finish())
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn_key", "seq"], name="one_turn_event_per_id")
        ]
        indexes = [models.Index(fields=["created_at"], name="turn_event_created_at")]

    def __str__(self) -> str:
        return f"{self.turn_key} #{self.seq}"
