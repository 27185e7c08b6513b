"""The chat's forms: a message to send, a conversation's new title."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from ai_settings.catalog import AvailableModel
from assistant.models import Conversation
from prompts.request_numbers import WholeNumberField

MAX_MESSAGE_CHARS = 100_000

# A model that is not (or no longer) among the user's: the form's error, and Retry's refusal.
MODEL_NOT_AVAILABLE = "That model is not available to you right now. Choose another model."


class MessageForm(forms.Form):
    """One message from the composer. The model must be one the user may pick right now."""

    message = forms.CharField(required=False, strip=False)
    model = forms.CharField(required=False)
    conversation = WholeNumberField(required=False, min_value=1)
    page_url = forms.CharField(required=False, max_length=2000)
    attach_page = forms.BooleanField(required=False)
    prompt = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, models: Sequence[AvailableModel], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.models = {m.key: m for m in models}

    def is_blank(self) -> bool:
        """The one rule for an empty message: no text but whitespace, no prompt chosen, no
        file attached. Read from the raw input, before validation: a blank message is
        ignored, whatever else the form holds."""
        return (
            not self.data.get("message", "").strip()
            and not self.data.get("prompt")
            and not self.files.getlist("attachments")
        )

    def clean_message(self) -> str:
        posted: str = self.cleaned_data["message"]
        text = posted.replace("\r\n", "\n")
        if len(text) > MAX_MESSAGE_CHARS:
            raise forms.ValidationError(
                f"Your message is {len(text):,} characters long; the limit is "
                f"{MAX_MESSAGE_CHARS:,}. Shorten it or attach it as a text file."
            )
        return text.strip()

    def clean_model(self) -> AvailableModel:
        key = self.cleaned_data["model"]
        if not key:
            raise forms.ValidationError("Choose a model.")
        model = self.models.get(key)
        if model is None:
            raise forms.ValidationError(MODEL_NOT_AVAILABLE)
        return model


class RenameForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["title"]
        labels = {"title": "Title"}

    def clean_title(self) -> str:
        posted: str = self.cleaned_data["title"]
        title = " ".join(posted.split())
        if not title:
            raise forms.ValidationError("Give the conversation a title.")
        return title
