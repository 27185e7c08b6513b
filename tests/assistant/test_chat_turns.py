"""What a turn sends and stores: attachments (accepted and refused), the trimmed history with
its note, and the admin page attached as context."""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient

from assistant.models import Attachment, Conversation, Message
from tests.support.chat import add_local_provider, read_events

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_orm_thread_connections"),
]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 20


@pytest.fixture
async def client(app_user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(app_user)
    return client


async def test_an_image_and_a_text_file_are_stored_and_sent(client, local_model, fake_openai):
    response = await client.post(
        "/assistant/messages/",
        {
            "message": "What is in these?",
            "model": local_model,
            "attachments": [
                SimpleUploadedFile("chart.png", PNG, content_type="image/png"),
                SimpleUploadedFile("notes.txt", b"Buy milk.", content_type="text/plain"),
            ],
        },
    )
    events = await read_events(response)
    stored = [a async for a in Attachment.objects.order_by("id")]
    assert [(a.filename, a.content_type, a.size) for a in stored] == [
        ("chart.png", "image/png", len(PNG)),
        ("notes.txt", "text/plain", 9),
    ]
    assert "chart.png" in events[0] and "notes.txt" in events[0]
    content = fake_openai.last_body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in these?"}
    assert (
        content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    )
    assert "Buy milk." in content[2]["text"]


async def test_a_file_that_is_not_what_its_name_says_is_refused_before_any_call(
    client, local_model, fake_openai
):
    response = await client.post(
        "/assistant/messages/",
        {
            "message": "Look",
            "model": local_model,
            "attachments": [SimpleUploadedFile("photo.png", b"MZ\x90\x00 not an image\x00")],
        },
    )
    assert response.status_code == 400
    assert (
        "photo.png cannot be attached: only images (PNG, JPEG, WebP, GIF), PDF or plain text"
        in (response.text)
    )
    assert not await Message.objects.aexists()
    assert fake_openai.generation_requests() == []


async def test_six_files_are_refused(client, local_model, fake_openai):
    files = [SimpleUploadedFile(f"{i}.txt", b"x") for i in range(6)]
    response = await client.post(
        "/assistant/messages/", {"message": "Many", "model": local_model, "attachments": files}
    )
    assert response.status_code == 400
    assert "At most 5 files can be attached to one message (6 were chosen)." in response.text
    assert fake_openai.generation_requests() == []


async def test_files_for_a_model_without_attachments_are_refused(client, fake_openai):
    plain = await sync_to_async(add_local_provider)(fake_openai, supports_attachments=False)
    response = await client.post(
        "/assistant/messages/",
        {"message": "Look", "model": plain, "attachments": [SimpleUploadedFile("a.png", PNG)]},
    )
    assert response.status_code == 400
    assert "Local Model does not accept attachments." in response.text
    assert fake_openai.generation_requests() == []


async def test_long_history_is_trimmed_oldest_first_and_the_user_sees_a_note(
    client, fake_openai, app_user
):
    # Budget: 6,000 - 2,000 = 4,000 tokens ≈ 16,000 characters.
    key = await sync_to_async(add_local_provider)(
        fake_openai, context_window=6_000, max_output=2_000
    )

    def old_turns():
        conversation = Conversation.objects.create(user=app_user, title="Long", model_key=key)
        for n in range(1, 5):
            Message.objects.create(
                conversation=conversation, role="user", content=f"old question {n} " + "q" * 4_000
            )
            Message.objects.create(
                conversation=conversation,
                role="assistant",
                content=f"old answer {n} " + "a" * 4_000,
            )
        return conversation

    conversation = await sync_to_async(old_turns)()
    events = await read_events(
        await client.post(
            "/assistant/messages/",
            {"message": "And now?", "model": key, "conversation": conversation.pk},
        )
    )
    sent = fake_openai.last_body["messages"]
    texts = [m["content"][:14] for m in sent[1:]]
    assert sent[0]["role"] == "system"  # the system prompt always stays
    assert "old question 1" not in texts  # the oldest turn went first
    assert texts[-1] == "And now?"
    assert "old answer 4 a" in texts  # the latest turns stay
    answer = await Message.objects.alatest("id")
    assert answer.history_trimmed
    assert "Older messages were left out" in events[-1]


async def test_history_that_fits_is_not_trimmed(client, local_model, fake_openai):
    events = await read_events(
        await client.post("/assistant/messages/", {"message": "Short", "model": local_model})
    )
    answer = await Message.objects.alatest("id")
    assert not answer.history_trimmed
    assert "Older messages were left out" not in events[-1]


async def test_the_attached_admin_page_reaches_the_message_and_the_system_prompt(
    client, local_model, fake_openai
):
    from prompts.models import Prompt, PromptCollection

    def make():
        return Prompt.objects.create(collection=PromptCollection.objects.create(name="C"), name="p")

    prompt = await sync_to_async(make)()
    change_url = f"/admin/prompts/prompt/{prompt.pk}/change/"
    await read_events(
        await client.post(
            "/assistant/messages/",
            {
                "message": "Improve this",
                "model": local_model,
                "page_url": change_url,
                "attach_page": "1",
            },
        )
    )
    question = await Message.objects.filter(role="user").aget()
    assert question.page_context["label"] == f"Prompt #{prompt.pk}"
    assert question.page_context["path"] == change_url
    system = fake_openai.last_body["messages"][0]["content"]
    assert f"Prompt #{prompt.pk}" in system
    assert "prompts.prompt" in system
