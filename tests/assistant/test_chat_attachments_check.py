"""Which files can be attached: the content decides, not the name."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assistant.attachments import AttachmentRefused, check_files, sniff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
EXE = b"MZ\x90\x00\x03" + b"\x00" * 32


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"),
     (PDF, "application/pdf"), ("héllo\n".encode(), "text/plain"), (EXE, None)],
)  # fmt: skip
def test_content_type_comes_from_the_bytes(data, expected):
    assert sniff(data) == expected


@pytest.mark.parametrize(
    ("name", "data"),
    [("photo.png", PNG), ("photo.JPG", JPEG), ("anim.gif", GIF), ("pic.webp", WEBP),
     ("paper.pdf", PDF), ("notes.txt", b"plain notes"), ("table.csv", b"a,b\n1,2\n")],
)  # fmt: skip
def test_supported_files_are_accepted(name, data):
    [checked] = check_files([upload(name, data)], model_supports_attachments=True, model_name="M")
    assert checked.filename == name
    assert checked.data == data


def test_a_program_renamed_to_png_is_refused():
    with pytest.raises(AttachmentRefused, match=r"evil\.png cannot be attached"):
        check_files([upload("evil.png", EXE)], model_supports_attachments=True, model_name="M")


def test_a_png_named_pdf_is_refused():
    with pytest.raises(AttachmentRefused, match=r"report\.pdf cannot be attached"):
        check_files([upload("report.pdf", PNG)], model_supports_attachments=True, model_name="M")


def test_more_than_five_files_are_refused():
    files = [upload(f"{i}.txt", b"x") for i in range(6)]
    with pytest.raises(AttachmentRefused, match="At most 5 files"):
        check_files(files, model_supports_attachments=True, model_name="M")


def test_a_file_over_20_mb_is_refused():
    big = upload("big.txt", b"a" * (20 * 1024 * 1024 + 1))
    with pytest.raises(AttachmentRefused, match=r"big\.txt is larger than 20 MB"):
        check_files([big], model_supports_attachments=True, model_name="M")


def test_a_model_without_attachments_refuses_files():
    with pytest.raises(AttachmentRefused, match="Tiny does not accept attachments"):
        check_files([upload("a.png", PNG)], model_supports_attachments=False, model_name="Tiny")
