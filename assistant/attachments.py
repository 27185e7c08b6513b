"""Which files may be attached to a message: the real content decides (magic bytes), not
the name or the browser's content type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from django.core.files.uploadedfile import UploadedFile

from assistant.providers.base import AttachmentData

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS = 5
ACCEPT = (
    ".png,.jpg,.jpeg,.webp,.gif,.pdf,.txt,.md,.csv,.log,"
    "image/png,image/jpeg,image/webp,image/gif,application/pdf,text/plain"
)
SUPPORTED = "images (PNG, JPEG, WebP, GIF), PDF or plain text"

_EXTENSIONS = {
    "image/png": {".png"},
    "image/jpeg": {".jpg", ".jpeg"},
    "image/webp": {".webp"},
    "image/gif": {".gif"},
    "application/pdf": {".pdf"},
    "text/plain": {".txt", ".text", ".md", ".csv", ".log", ""},
}


class AttachmentRefused(ValueError):
    """A readable reason the files cannot be sent; nothing was stored or sent."""


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    data: bytes

    def as_provider_data(self) -> AttachmentData:
        return AttachmentData(self.filename, self.content_type, self.data)


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are, among those we accept; None otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


def check_files(
    files: Sequence[UploadedFile], *, model_supports_attachments: bool, model_name: str
) -> list[CheckedFile]:
    """Validate every file or refuse them all with one readable reason."""
    if not files:
        return []
    if not model_supports_attachments:
        raise AttachmentRefused(f"{model_name} does not accept attachments.")
    if len(files) > MAX_ATTACHMENTS:
        raise AttachmentRefused(
            f"At most {MAX_ATTACHMENTS} files can be attached to one message "
            f"({len(files)} were chosen)."
        )
    checked = []
    for upload in files:
        name = PurePath(upload.name or "file").name[:255]
        if (upload.size or 0) > MAX_ATTACHMENT_BYTES:
            raise AttachmentRefused(f"{name} is larger than 20 MB.")
        data = upload.read()
        content_type = sniff(data)
        extension = PurePath(name).suffix.lower()
        if content_type is None or extension not in _EXTENSIONS[content_type]:
            raise AttachmentRefused(f"{name} cannot be attached: only {SUPPORTED} are accepted.")
        if not data:
            raise AttachmentRefused(f"{name} is empty.")
        checked.append(CheckedFile(name, content_type, data))
    return checked
