"""The forms of Settings → AI.

Secrets (API keys, custom header values) are never rendered: their inputs are empty password
fields. Blank keeps the stored value, "Remove" clears it, anything else replaces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.forms.formsets import INITIAL_FORM_COUNT, TOTAL_FORM_COUNT

from ai_settings import catalog, presets
from ai_settings.models import AISettings
from prompts.models import PromptCollection
from prompts.request_numbers import WholeNumberField, whole_number

if TYPE_CHECKING:
    from django.forms.renderers import BaseRenderer

BUILTIN_KINDS = (catalog.OPENAI, catalog.ANTHROPIC, catalog.GOOGLE)
KEY_LABELS = {
    catalog.OPENAI: "OpenAI API Key",
    catalog.ANTHROPIC: "Anthropic API Key",
    catalog.GOOGLE: "Google API Key",
}
MAX_POSITIVE = 2_147_483_647  # fits a PositiveIntegerField on every supported database
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 9110 token
PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e\t]*$")
WHITESPACE = re.compile(r"\s")
LIST_SEPARATORS = re.compile(r"[,\r\n]+")


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def validate_model_id(value: str) -> None:
    if WHITESPACE.search(value):
        raise ValidationError(
            "Model IDs cannot contain spaces or line breaks: “%(id)s”.",
            code="whitespace",
            params={"id": _short(value)},
        )
    if len(value) > catalog.MAX_CUSTOM_MODEL_ID_LENGTH:
        raise ValidationError(
            "Model IDs can be at most %(max)d characters; “%(id)s” has %(length)d.",
            code="too_long",
            params={
                "max": catalog.MAX_CUSTOM_MODEL_ID_LENGTH,
                "id": _short(value),
                "length": len(value),
            },
        )


def validate_secret_text(value: str) -> None:
    """Keys go into HTTP headers: one line of printable ASCII. Messages never echo the value."""
    if WHITESPACE.search(value):
        raise ValidationError("Keys cannot contain spaces or line breaks.", code="whitespace")
    if not PRINTABLE_ASCII.match(value):
        raise ValidationError(
            "Keys must be plain text (printable ASCII characters).", code="not_text"
        )


def validate_base_url(value: str) -> None:
    message = "Enter an http:// or https:// URL, e.g. http://localhost:11434/v1."
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number
    except ValueError:
        raise ValidationError(message, code="invalid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or WHITESPACE.search(value):
        raise ValidationError(message, code="invalid")


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        base = {"autocomplete": "new-password", "spellcheck": "false"}
        super().__init__(attrs={**base, **(attrs or {})}, render_value=False)


def secret_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=2000,
        widget=SecretInput(),
        help_text=help_text,
        validators=[validate_secret_text],
    )


def positive_integer_field(
    label: str, initial: int | None, required: bool = True
) -> WholeNumberField:
    return WholeNumberField(
        label=label,
        initial=initial,
        required=required,
        min_value=1,
        max_value=MAX_POSITIVE,
        error_messages={
            "invalid": f"{label} must be a positive whole number.",
            "min_value": f"{label} must be a positive whole number.",
            "max_value": f"{label} can be at most {MAX_POSITIVE}.",
            "required": f"Enter the {label.lower()}.",
        },
    )


class ModelIdsField(forms.MultipleChoiceField):
    """Checkboxes for the catalog's models plus any custom model IDs already chosen."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value: Any) -> list[str]:
        return [item for item in super().to_python(value) if item]

    def valid_value(self, value: str) -> bool:
        return True  # custom IDs are allowed; validate() checks their form

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        _validate_each(value)


class ModelIdListField(forms.Field):
    """Model IDs typed as a comma- or newline-separated list (the page without JavaScript)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:
        text = "" if value in self.empty_values else str(value)
        return [part.strip() for part in LIST_SEPARATORS.split(text) if part.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        _validate_each(value)


def _validate_each(model_ids: Iterable[str]) -> None:
    errors = []
    for model_id in model_ids:
        try:
            validate_model_id(model_id)
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise ValidationError(errors)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def model_choices(kind: str, extra_ids: Iterable[str]) -> list[tuple[str, str]]:
    known = catalog.catalog_for(kind)
    choices = [(m.model_id, m.display_name) for m in known]
    known_ids = {m.model_id for m in known}
    choices += [
        (model_id, model_id) for model_id in _unique(extra_ids) if model_id not in known_ids
    ]
    return choices


class AISettingsForm(forms.Form):
    """The settings row's own fields: prompts, MCP and usage limits (each built-in provider has
    its BuiltinProviderForm)."""

    version = WholeNumberField(widget=forms.HiddenInput)
    custom_system_prompt = forms.CharField(
        label="Custom System Prompt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Leave blank to use the default behavior.",
    )
    mcp_enabled = forms.BooleanField(label="Enable MCP server", required=False)
    mcp_allow_deletes = forms.BooleanField(
        label="Allow deletes via MCP",
        required=False,
        help_text="Lets MCP clients run tools that delete items.",
    )
    prompts_collection = forms.ModelChoiceField(
        label="AI Prompts Collection",
        queryset=PromptCollection.objects.all(),
        required=False,
        empty_label="— None —",
        help_text="Prompts are served only when the MCP server is enabled. The same collection "
        "feeds the assistant and external MCP clients.",
    )
    mcp_system_prompt_enabled = forms.BooleanField(label="MCP system prompt", required=False)
    mcp_system_prompt = forms.CharField(
        label="MCP system prompt override",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Blank sends the default system prompt to MCP clients.",
    )
    rate_limit_per_minute = positive_integer_field("Messages per minute per user", 20)
    daily_token_budget = positive_integer_field("Daily token budget per user", None, False)

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, row: AISettings, **kwargs: Any
    ) -> None:
        initial = {
            "version": row.version,
            "custom_system_prompt": row.custom_system_prompt,
            "mcp_enabled": row.mcp_enabled,
            "mcp_allow_deletes": row.mcp_allow_deletes,
            "prompts_collection": row.prompts_collection_id,
            "mcp_system_prompt_enabled": row.mcp_system_prompt_enabled,
            "mcp_system_prompt": row.mcp_system_prompt,
            "rate_limit_per_minute": row.rate_limit_per_minute,
            "daily_token_budget": row.daily_token_budget,
        }
        initial.update(kwargs.pop("initial", {}))
        super().__init__(data, initial=initial, **kwargs)
        self.fields[
            "daily_token_budget"
        ].help_text = "Blank means no budget. Groups can override it."


class BuiltinProviderForm(forms.Form):
    """One built-in provider (OpenAI, Anthropic, Google): its key and allowed models. The page
    has one per kind, the kind as its prefix ("openai-api_key")."""

    api_key = secret_field("API Key")
    api_key_remove = forms.BooleanField(label="Remove", required=False)
    allowed_models = ModelIdsField(label="Allowed Models", required=False)
    custom_models = ModelIdListField(
        label="Custom model IDs",
        required=False,
        help_text="Separate several with commas or new lines.",
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        kind: str,
        row: AISettings,
        **kwargs: Any,
    ) -> None:
        stored = row.allowed_models_for(kind)
        initial = {"allowed_models": stored, **kwargs.pop("initial", {})}
        super().__init__(data, prefix=kind, initial=initial, **kwargs)
        self.kind = kind
        self.fields["api_key"].label = KEY_LABELS[kind]
        shown = self["allowed_models"].data if data is not None else initial["allowed_models"]
        allowed = self.fields["allowed_models"]
        assert isinstance(allowed, ModelIdsField)
        allowed.choices = model_choices(kind, stored + list(shown or []))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("api_key") and cleaned.get("api_key_remove"):
            self.add_error("api_key_remove", "Either enter a new key or tick Remove, not both.")
        return cleaned

    def chosen_models(self) -> list[str]:
        """The allowed models: the boxes checked, then the IDs typed in the text list."""
        return _unique(self.cleaned_data["allowed_models"] + self.cleaned_data["custom_models"])


class CompatibleProviderForm(forms.Form):
    id = WholeNumberField(widget=forms.HiddenInput, required=False)
    preset = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(
        label="Provider Name",
        max_length=100,
        help_text="Display name shown in the model selector (e.g. “Ollama”, “LM Studio”).",
        error_messages={"required": "Enter the provider's name."},
    )
    base_url = forms.CharField(
        label="Base URL",
        max_length=500,
        validators=[validate_base_url],
        help_text="The API endpoint URL. Must be OpenAI-compatible.",
        error_messages={"required": "Enter the provider's Base URL."},
        widget=forms.TextInput(attrs={"spellcheck": "false", "inputmode": "url"}),
    )
    api_key = secret_field(
        "API Key",
        "Optional: only if your provider requires one. When blank a placeholder is sent, "
        "as the OpenAI SDK needs a key.",
    )
    api_key_remove = forms.BooleanField(label="Remove", required=False)
    clear_headers = forms.BooleanField(
        label="Remove the custom headers that cannot be decrypted", required=False
    )

    def clean_preset(self) -> str:
        slug = self.cleaned_data["preset"]
        return slug if slug in presets.BY_SLUG else ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("api_key") and cleaned.get("api_key_remove"):
            self.add_error("api_key_remove", "Either enter a new key or tick Remove, not both.")
        return cleaned


class HeaderForm(forms.Form):
    original_name = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(
        label="Header name",
        max_length=200,
        error_messages={"required": "Enter the header's name."},
        widget=forms.TextInput(attrs={"spellcheck": "false", "placeholder": "X-Api-Version"}),
    )
    value = forms.CharField(label="Value", required=False, strip=False, widget=SecretInput())

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if not HEADER_NAME.match(name):
            raise ValidationError(
                "“%(name)s” is not a valid header name: use letters, digits and - _ . ! # $ %% "
                "& ' * + ^ ` | ~ only, no spaces or line breaks.",
                code="invalid_name",
                params={"name": _short(name)},
            )
        return name

    def clean_value(self) -> str:
        value: str = self.cleaned_data["value"]
        # Messages never echo the value: header values are often credentials.
        if "\r" in value or "\n" in value:
            raise ValidationError("Header values cannot contain line breaks (CR or LF).")
        if not PRINTABLE_ASCII.match(value):
            raise ValidationError("Header values must be plain text (printable ASCII characters).")
        return value.strip()

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if "value" in cleaned and not cleaned["value"] and not cleaned.get("original_name"):
            self.add_error("value", "Enter a value for this header.")
        return cleaned


class RemovableFormSet(forms.BaseFormSet):
    """Formset rows carry a "Remove" checkbox (Django's DELETE field, relabelled).

    An unbound formset may be given more `initial` rows than are stored: the first
    `stored_rows` of them are its initial forms, the rest extra forms (new rows, as posted).
    """

    if TYPE_CHECKING:
        # Django's, left out by django-stubs: the renderer the formset's forms get, and the
        # test for a row marked for deletion that Django's documentation uses in clean().
        renderer: BaseRenderer

        def _should_delete_form(self, form: forms.Form) -> bool: ...

    def __init__(self, *args: Any, stored_rows: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored_rows = stored_rows
        if stored_rows is not None:
            self.extra = len(self.initial or []) - stored_rows

    def initial_form_count(self) -> int:
        if self.stored_rows is None or self.is_bound:
            return super().initial_form_count()
        return self.stored_rows

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"

    def clean(self) -> None:
        # Django's management form counts "٣" as 3 rows and "-1" as none (int() takes them);
        # a count the page never sends is refused, as Django refuses a missing one.
        if not self.management_form.is_valid():
            return  # Django has reported it already
        for name in (TOTAL_FORM_COUNT, INITIAL_FORM_COUNT):
            if whole_number(self.data.get(self.add_prefix(name))) is None:
                raise ValidationError("The form's row counts are damaged; reload the page.")


class BaseHeaderFormSet(RemovableFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            if self._should_delete_form(form) or not getattr(form, "cleaned_data", None):
                continue
            name = form.cleaned_data.get("name", "").lower()
            if name and name in seen:
                form.add_error("name", "This header is listed twice.")
            seen.add(name)


def _holds_nul(value: object) -> bool:
    """Whether any text in a parsed JSON value (keys included) holds a NUL character."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class CompatibleModelForm(forms.Form):
    id = WholeNumberField(widget=forms.HiddenInput, required=False)
    model_id = forms.CharField(
        label="Model ID",
        validators=[validate_model_id],
        help_text="The model identifier used in API requests.",
        error_messages={"required": "Enter the model ID."},
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    display_name = forms.CharField(
        label="Display Name",
        max_length=200,
        required=False,
        help_text="Human-readable name shown in the UI.",
    )
    context_window = positive_integer_field("Context Window", catalog.CUSTOM_CONTEXT_WINDOW)
    max_output = positive_integer_field("Max Output", catalog.CUSTOM_MAX_OUTPUT)
    supports_attachments = forms.BooleanField(label="Supports Attachments", required=False)
    supports_reasoning = forms.BooleanField(label="Supports Reasoning", required=False)
    provider_options = forms.CharField(
        label="Provider Options",
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="JSON object passed to the provider with each request.",
    )
    input_price = forms.DecimalField(
        label="Input price (USD / 1M tokens)",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=4,
    )
    output_price = forms.DecimalField(
        label="Output price (USD / 1M tokens)",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=4,
    )

    def clean_provider_options(self) -> dict[str, Any]:
        text = self.cleaned_data["provider_options"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValidationError(
                "Provider Options is not valid JSON (%(reason)s).",
                code="invalid_json",
                params={"reason": error.msg},
            ) from None
        except RecursionError:
            raise ValidationError(
                "Provider Options is nested too deeply.", code="too_deep"
            ) from None
        if not isinstance(value, dict):
            raise ValidationError(
                'Provider Options must be a JSON object, e.g. {"temperature": 0.2}.',
                code="not_object",
            )
        if _holds_nul(value):  # PostgreSQL's jsonb refuses \u0000
            raise ValidationError(
                "Provider Options cannot contain NUL characters (\\u0000).", code="nul"
            )
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        context, output = cleaned.get("context_window"), cleaned.get("max_output")
        if context and output and output > context:
            self.add_error("max_output", "Max Output cannot be larger than the Context Window.")
        return cleaned


class BaseModelRowFormSet(RemovableFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            if self._should_delete_form(form) or not getattr(form, "cleaned_data", None):
                continue
            model_id = form.cleaned_data.get("model_id")
            if model_id and model_id in seen:
                form.add_error("model_id", "This model ID is already listed for this provider.")
            seen.add(model_id)


class BaseProviderFormSet(RemovableFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            if self._should_delete_form(form) or not getattr(form, "cleaned_data", None):
                continue
            name = form.cleaned_data.get("name", "")
            if name and name.casefold() in seen:
                form.add_error("name", f"Another provider is already named “{name}”.")
            seen.add(name.casefold())


# Caps on rows per post (a form error beyond them): a forged TOTAL_FORMS of a billion would
# otherwise build Django's default 2,000 forms per formset, nested, for one request.
MAX_PROVIDERS, MAX_MODEL_ROWS, MAX_HEADER_ROWS = 50, 200, 50


_Rows = TypeVar("_Rows", bound=RemovableFormSet)


def _capped_formset(form: type[forms.Form], base: type[_Rows], cap: int) -> type[_Rows]:
    """A formset that refuses more than `cap` rows (also a forged TOTAL_FORMS)."""
    formset = forms.formset_factory(
        form, formset=base, extra=0, can_delete=True, max_num=cap, absolute_max=cap,
        validate_max=True,
    )  # fmt: skip
    return cast("type[_Rows]", formset)  # a subclass of `base`, which the stubs do not say


ProviderFormSet = _capped_formset(CompatibleProviderForm, BaseProviderFormSet, MAX_PROVIDERS)
ModelRowFormSet = _capped_formset(CompatibleModelForm, BaseModelRowFormSet, MAX_MODEL_ROWS)
HeaderFormSet = _capped_formset(HeaderForm, BaseHeaderFormSet, MAX_HEADER_ROWS)
