"""Attachment bytes in the shapes providers accept: base64, data URLs, inline text."""

from __future__ import annotations

import base64

from assistant.providers.base import AttachmentData

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
PDF = "application/pdf"
TEXT = "text/plain"


def b64(attachment: AttachmentData) -> str:
    return base64.b64encode(attachment.data).decode("ascii")


def data_url(attachment: AttachmentData) -> str:
    return f"data:{attachment.content_type};base64,{b64(attachment)}"


def as_text(attachment: AttachmentData) -> str:
    return attachment.data.decode("utf-8", errors="replace")


def inline_text_document(attachment: AttachmentData) -> str:
    """A plain-text file for providers without a text document type."""
    return f'<document name="{attachment.filename}">\n{as_text(attachment)}\n</document>'
