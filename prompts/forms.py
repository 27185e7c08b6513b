"""Forms: the admin's prompt and message forms (placeholder syntax checked, with positions),
the API token form, and the form that asks for a prompt's variables in the chat."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from prompts.models import ApiToken, Prompt, PromptMessage
from prompts.rendering import Variable, syntax_errors
from prompts.request_numbers import WholeNumberField
from prompts.users import User


def validate_placeholders(text: str) -> None:
    """A field validator: one message per malformed placeholder, each with its position."""
    errors = syntax_errors(text or "")
    if errors:
        raise ValidationError([str(error) for error in errors], code="placeholder_syntax")


class PromptAdminForm(forms.ModelForm):
    class Meta:
        model = Prompt
        fields = ["collection", "name", "status", "description", "system_prompt"]
        help_texts = {
            "system_prompt": "Placeholders: {{ name }} or {{ name: description }}.",
        }

    def clean_system_prompt(self) -> str:
        text: str = self.cleaned_data.get("system_prompt", "")
        validate_placeholders(text)
        return text


class PromptMessageInlineForm(forms.ModelForm):
    position = WholeNumberField(
        label="Order",
        required=False,
        min_value=1,
        max_value=2_147_483_647,  # fits a PositiveIntegerField on every supported database
        help_text="Leave blank to keep the order shown.",
        widget=forms.NumberInput(attrs={"class": "vSmallField"}),
    )

    class Meta:
        model = PromptMessage
        fields = ["position", "role", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 4, "cols": 70})}

    def clean_position(self) -> int:
        return self.cleaned_data.get("position") or 0  # 0: no wish, keep the order shown

    def clean_text(self) -> str:
        text: str = self.cleaned_data.get("text", "")
        validate_placeholders(text)
        return text


class PromptMessageFormSet(BaseInlineFormSet):
    """Saves the messages, then numbers them 1..n: by the order typed in, else as shown."""

    def save(self, commit: bool = True) -> list[PromptMessage]:
        saved = super().save(commit)
        if commit:
            self._renumber()
        return saved

    def _renumber(self) -> None:
        deleted = set(map(id, self.deleted_forms)) if self.can_delete else set()
        rows = []
        for index, form in enumerate(self.forms):
            if id(form) in deleted or form.instance.pk is None:
                continue
            wanted = form.cleaned_data.get("position") or index + 1
            rows.append(((wanted, index), form.instance))
        rows.sort(key=lambda row: row[0])
        for number, (_, message) in enumerate(rows, start=1):
            if message.position != number:
                PromptMessage.objects.filter(pk=message.pk).update(position=number)
                message.position = number


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What the token is for, e.g. “Claude Desktop on my laptop”.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give the token a name.")
        if ApiToken.objects.filter(user=self.user, name=name, revoked_at__isnull=True).exists():
            raise ValidationError("You already have an active token with this name.")
        return name


class PromptValuesForm(forms.Form):
    """One required text field per variable, named after it (prefix "prompt_var" in the
    chat, so the fields do not clash with the message form's own)."""

    def __init__(self, variables: list[Variable], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "prompt_var")
        super().__init__(*args, **kwargs)
        for variable in variables:
            self.fields[variable.name] = forms.CharField(
                label=variable.name,
                help_text=variable.description,
                widget=forms.Textarea(attrs={"rows": 2}),
                error_messages={"required": f"Enter a value for “{variable.name}”."},
            )
