"""Prompt collections, prompts with {{ variables }}, and personal access tokens for MCP."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


class PromptCollection(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    class Status(models.TextChoices):
        PUBLISHED = "published", "Published"
        DRAFT = "draft", "Draft"
        ARCHIVED = "archived", "Archived"

    collection = models.ForeignKey(
        PromptCollection, on_delete=models.CASCADE, related_name="prompts"
    )
    name = models.SlugField(
        max_length=100, help_text="Unique in its collection, e.g. summarize-page."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    description = models.TextField(blank=True, default="")
    system_prompt = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection", "name"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "name"], name="unique_prompt_name")
        ]

    def __str__(self) -> str:
        return self.name


class PromptMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="messages")
    position = models.PositiveIntegerField(default=0)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    text = models.TextField()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class ApiToken(models.Model):
    """A personal access token for MCP clients. Only its SHA-256 is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)  # shown to tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()
