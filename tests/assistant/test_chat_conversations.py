"""Conversations: the page, the panel, rename/delete/new, the model picker, privacy (another
user's conversation is a 404), the admin page context, and superusers in Django admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assistant.models import Conversation, Message
from tests.support.chat import add_local_provider, configure

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_model(fake_openai) -> str:
    return add_local_provider(fake_openai)


@pytest.fixture
def chat(client, app_user):
    client.force_login(app_user)
    return client


def conversation_of(user, title="Trip", **fields) -> Conversation:
    return Conversation.objects.create(user=user, title=title, **fields)


def test_the_page_lists_conversations_newest_first(chat, app_user):
    old = conversation_of(app_user, "Old one")
    new = conversation_of(app_user, "New one")
    Conversation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=1))
    page = chat.get("/assistant/").text
    assert page.index("New one") < page.index("Old one")
    assert f'href="/assistant/c/{new.pk}/"' in page


def test_a_conversation_page_shows_its_messages_rendered(chat, app_user):
    conversation = conversation_of(app_user)
    Message.objects.create(conversation=conversation, role="user", content="Where to?")
    Message.objects.create(
        conversation=conversation, role="assistant", content="Try **Lisbon**.",
        provider="Local LLM", model="local-model", input_tokens=5, output_tokens=7,
        time_to_first_token_ms=120, total_time_ms=900,
    )  # fmt: skip
    page = chat.get(f"/assistant/c/{conversation.pk}/").text
    assert "Where to?" in page
    assert "Try <strong>Lisbon</strong>." in page
    assert "5 in · 7 out tokens" in page
    assert "first token 0.12 s" in page and "total 0.9 s" in page


def test_the_model_picker_offers_exactly_the_allowed_models_grouped_by_provider(
    chat, local_model, settings, fake_openai, fake_anthropic
):
    configure(settings=settings, fakes={"openai": fake_openai, "anthropic": fake_anthropic})
    page = chat.get("/assistant/").text
    assert '<optgroup label="OpenAI">' in page
    assert '<optgroup label="Anthropic">' in page
    assert '<optgroup label="Local LLM">' in page
    assert ">GPT-5 Mini</option>" in page
    assert ">Claude Haiku 4.5</option>" in page
    assert ">Local Model</option>" in page
    assert "GPT-5 Nano" not in page  # not in OpenAI's Allowed Models
    assert "Gemini" not in page  # Google has no key


def test_a_conversation_whose_model_is_gone_shows_a_message_and_the_picker(
    chat, app_user, local_model
):
    conversation = conversation_of(app_user, model_key="openai:gpt-4.1")
    response = chat.get(f"/assistant/c/{conversation.pk}/")
    assert response.status_code == 200
    assert "The model this conversation used is no longer available" in response.text
    assert '<option value="" disabled selected>Choose a model</option>' in response.text
    assert f'value="{local_model}"' in response.text


def test_no_models_at_all_says_what_an_administrator_can_do(chat):
    response = chat.get("/assistant/")
    assert response.status_code == 200
    assert "No models are available to you right now" in response.text
    assert 'id="chat-send" disabled' in response.text


def test_the_file_input_is_offered_only_for_models_with_attachments(chat, app_user, fake_openai):
    plain = add_local_provider(fake_openai, name="Plain", supports_attachments=False)
    conversation = conversation_of(app_user, model_key=plain)
    page = chat.get(f"/assistant/c/{conversation.pk}/").text
    assert 'id="chat-files-field" hidden' in page
    assert 'data-attachments="false" selected' in page


def test_rename_and_delete_a_conversation(chat, app_user):
    conversation = conversation_of(app_user)
    response = chat.post(f"/assistant/c/{conversation.pk}/rename/", {"title": "  Summer   trip "})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Summer trip"

    blank = chat.post(f"/assistant/c/{conversation.pk}/rename/", {"title": "  "})
    assert blank.status_code == 400
    assert "Give the conversation a title." in blank.text
    conversation.refresh_from_db()
    assert conversation.title == "Summer trip"

    response = chat.post(f"/assistant/c/{conversation.pk}/delete/")
    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_new_conversation_reuses_an_empty_one(chat, app_user):
    first = chat.post("/assistant/new/")
    second = chat.post("/assistant/new/")
    assert first["Location"] == second["Location"]
    assert Conversation.objects.filter(user=app_user).count() == 1


def test_the_panel_actions_answer_with_the_chat_partial(chat, app_user):
    conversation = conversation_of(app_user)
    response = chat.post(
        f"/assistant/c/{conversation.pk}/rename/",
        {"title": "Renamed"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert '<section class="chat chat-in-panel" id="chat"' in response.text
    assert "Renamed" in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/assistant/c/{c}/"),
        ("get", "/assistant/panel/?conversation={c}"),
        ("post", "/assistant/c/{c}/rename/"),
        ("post", "/assistant/c/{c}/delete/"),
        ("post", "/assistant/c/{c}/messages/"),
        ("post", "/assistant/c/{c}/messages/{m}/stop/"),
    ],
)
def test_another_users_conversation_is_a_404(chat, other_app_user, method, path):
    theirs = conversation_of(other_app_user, "Private")
    message = Message.objects.create(conversation=theirs, role="assistant", content="secret")
    url = path.format(c=theirs.pk, m=message.pk)
    response = getattr(chat, method)(
        url, {"title": "Mine now", "message": "hi"} if method == "post" else None
    )
    assert response.status_code == 404
    assert "Private" not in response.text and "secret" not in response.text
    theirs.refresh_from_db()
    assert theirs.title == "Private"
    message.refresh_from_db()
    assert not message.stop_requested


def test_posting_into_another_users_conversation_via_the_form_field_is_a_404(chat, other_app_user):
    theirs = conversation_of(other_app_user)
    response = chat.post("/assistant/messages/", {"conversation": theirs.pk, "message": "hi"})
    assert response.status_code == 404
    assert not theirs.messages.exists()


def test_retrying_another_users_message_is_a_404(chat, other_app_user):
    theirs = conversation_of(other_app_user)
    failed = Message.objects.create(conversation=theirs, role="assistant", status="error")
    assert chat.post("/assistant/retry/", {"message": failed.pk}).status_code == 404


def test_staff_without_app_access_cannot_chat(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/assistant/panel/").status_code == 403
    assert client.post("/assistant/messages/", {"message": "hi"}).status_code == 403


def test_every_page_has_the_panel_for_app_users(chat, client, api_only_user):
    page = chat.get("/").text
    assert 'id="chat-panel-toggle"' in page and 'hx-get="/assistant/panel/"' in page
    client.force_login(api_only_user)
    assert 'id="chat-panel-toggle"' not in client.get("/").text


def test_the_panel_opens_the_latest_conversation(chat, app_user):
    conversation_of(app_user, "Older")
    latest = conversation_of(app_user, "Latest")
    panel = chat.get("/assistant/panel/", headers={"HX-Request": "true"}).text
    assert f'id="chat-conversation-field" value="{latest.pk}"' in panel
    assert "Open full page" in panel


def test_on_an_admin_change_page_the_panel_offers_the_object(client, superuser):
    from prompts.models import Prompt, PromptCollection

    prompt = Prompt.objects.create(collection=PromptCollection.objects.create(name="C"), name="p")
    client.force_login(superuser)
    change_url = f"/admin/prompts/prompt/{prompt.pk}/change/"
    admin_page = client.get(change_url).text
    assert 'id="chat-panel-toggle"' in admin_page
    panel = client.get(
        "/assistant/panel/",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{change_url}"},
    ).text
    assert f"Attach this page: Prompt #{prompt.pk}" in panel
    assert f'name="page_url" value="{change_url}"' in panel


def test_a_non_admin_page_offers_no_object(chat):
    panel = chat.get(
        "/assistant/panel/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/"}
    ).text
    assert "Attach this page" not in panel


def test_superusers_see_conversations_in_django_admin_and_staff_do_not(
    client, superuser, django_user_model, app_user
):
    from django.contrib.auth.models import Permission

    conversation = conversation_of(app_user, "Visible to root")
    client.force_login(superuser)
    assert "Visible to root" in client.get("/admin/assistant/conversation/").text
    assert client.get(f"/admin/assistant/conversation/{conversation.pk}/change/").status_code == 200

    staff = django_user_model.objects.create_user("nosy", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="assistant"))
    client.force_login(staff)
    assert client.get("/admin/assistant/conversation/").status_code == 403
    assert client.get(f"/admin/assistant/conversation/{conversation.pk}/change/").status_code == 403
