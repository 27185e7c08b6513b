"""Settings → AI as one form: the settings row, one form per built-in provider (prefixed with
its kind) and the OpenAI-compatible providers, each with its custom headers and model rows
(nested formsets with the prefixes providers-<i>-headers and providers-<i>-models)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from django import forms
from django.forms import BoundField

from ai_settings import catalog, presets
from ai_settings.forms import (
    BUILTIN_KINDS,
    AISettingsForm,
    BuiltinProviderForm,
    CompatibleProviderForm,
    HeaderFormSet,
    ModelRowFormSet,
    ProviderFormSet,
    RemovableFormSet,
)
from ai_settings.masking import SecretStatus, secret_status
from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider
from prompts.request_numbers import whole_number

if TYPE_CHECKING:
    from ai_settings.connection_test import ConnectionResult

PROVIDERS_PREFIX = "providers"
MODELS_PREFIX = re.compile(r"^providers-\d+-models$")
HEADERS_PREFIX = re.compile(r"^providers-\d+-headers$")


def load_providers() -> list[CompatibleProvider]:
    return list(CompatibleProvider.objects.prefetch_related("models"))


def model_initial(model: CompatibleModel) -> dict[str, Any]:
    return {
        "id": model.pk,
        "model_id": model.model_id,
        "display_name": model.display_name,
        "context_window": model.context_window,
        "max_output": model.max_output,
        "supports_attachments": model.supports_attachments,
        "supports_reasoning": model.supports_reasoning,
        "provider_options": json.dumps(model.provider_options or {}, indent=2),
        "input_price": model.input_price,
        "output_price": model.output_price,
    }


def _disable(form: forms.Form) -> None:
    for field in form.fields.values():
        field.disabled = True


def new_row(
    formset: RemovableFormSet, index: int, initial: dict[str, Any] | None = None
) -> forms.Form:
    """An unbound extra row at `index`, for a row added in place (htmx)."""
    form: forms.Form = formset.form(
        prefix=formset.add_prefix(index),
        initial=initial or {},
        empty_permitted=True,
        use_required_attribute=False,
        renderer=formset.renderer,
    )
    formset.add_fields(form, index)
    return form


def posted_id(form: forms.Form) -> int | None:
    """The stored row a submitted form row edits (its hidden `id`); None for a new row. An id
    that is not a number gives 0, which no row has: the row is reported as gone."""
    raw = form["id"].value()
    if raw in (None, ""):
        return None
    number = whole_number(str(raw))
    return 0 if number is None else number


@dataclass(frozen=True)
class ModelChoice:
    widget: object  # a BoundWidget (one checkbox)
    model_id: str
    info: catalog.CatalogModel | None  # None for a custom model ID


@dataclass
class BuiltinProvider:
    form: BuiltinProviderForm
    status: SecretStatus  # of the stored key
    test_result: ConnectionResult | None = None  # to show, if any

    @property
    def kind(self) -> str:
        return self.form.kind

    @property
    def label(self) -> str:
        return catalog.BUILTIN_PROVIDERS[self.kind]

    @property
    def key(self) -> BoundField:
        return self.form["api_key"]

    @property
    def remove(self) -> BoundField:
        return self.form["api_key_remove"]

    @property
    def allowed(self) -> BoundField:
        return self.form["allowed_models"]

    @property
    def custom(self) -> BoundField:
        return self.form["custom_models"]

    @property
    def choices(self) -> list[ModelChoice]:
        known = {m.model_id: m for m in catalog.catalog_for(self.kind)}
        return [
            ModelChoice(widget, str(widget.data["value"]), known.get(str(widget.data["value"])))
            for widget in self.allowed
        ]

    @property
    def target(self) -> str:
        return self.kind


@dataclass
class HeaderRow:
    form: forms.Form
    status: SecretStatus


@dataclass
class ProviderBlock:
    index: int
    form: CompatibleProviderForm
    models: RemovableFormSet
    headers: RemovableFormSet
    stored: CompatibleProvider | None
    test_result: ConnectionResult | None = None  # to show, if any

    @property
    def prefix(self) -> str:
        prefix = self.form.prefix
        assert prefix is not None  # a formset's form always has one
        return prefix

    @property
    def target(self) -> str:
        return self.prefix

    @property
    def posted_id(self) -> int | None:
        return posted_id(self.form)

    @property
    def title(self) -> str:
        name = self.form["name"].value()
        return str(name) if name else (self.stored.name if self.stored else "New provider")

    @property
    def preset(self) -> presets.Preset:
        return presets.preset(str(self.form["preset"].value() or ""))

    @property
    def key_status(self) -> SecretStatus:
        return secret_status(self.stored.api_key if self.stored else "")

    @cached_property
    def stored_headers(self) -> dict[str, str] | None:
        """The stored provider's custom headers; None when they cannot be decrypted."""
        return self.stored.header_values() if self.stored else {}

    @property
    def headers_undecryptable(self) -> bool:
        return self.stored_headers is None

    @property
    def header_rows(self) -> list[HeaderRow]:
        stored = self.stored_headers or {}
        rows = []
        for form in self.headers.forms:
            original = str(form["original_name"].value() or "")
            rows.append(HeaderRow(form, secret_status(stored.get(original, ""))))
        return rows

    @property
    def is_deleted(self) -> bool:
        return bool(self.form.is_bound and self.form["DELETE"].data)

    @cached_property
    def in_use(self) -> bool:
        """Stored providers always count; a new one once anything in it was filled in."""
        if self.stored is not None or self.posted_id is not None:
            return True
        if not self.form.is_bound:
            return False
        return (
            self.form.has_changed()
            or any(f.has_changed() for f in self.models.forms)
            or any(f.has_changed() for f in self.headers.forms)
        )


def models_formset(
    prefix: str,
    data: Mapping[str, Any] | None = None,
    stored: CompatibleProvider | None = None,
    extra: int = 0,
) -> RemovableFormSet:
    initial = [model_initial(m) for m in stored.models.all()] if stored else []
    formset = ModelRowFormSet(data, prefix=f"{prefix}-models", initial=initial)
    formset.extra = extra
    return formset


def headers_formset(
    prefix: str, data: Mapping[str, Any] | None = None, stored: CompatibleProvider | None = None
) -> RemovableFormSet:
    headers = (stored.header_values() if stored else None) or {}
    initial = [{"original_name": name, "name": name} for name in headers]
    return HeaderFormSet(data, prefix=f"{prefix}-headers", initial=initial)


def new_block(index: int, preset: presets.Preset) -> ProviderBlock:
    """An unsaved provider at `index`, prefilled from a preset, with one empty model row."""
    formset = ProviderFormSet(prefix=PROVIDERS_PREFIX)
    form = new_row(
        formset,
        index,
        {"name": preset.name, "base_url": preset.base_url, "preset": preset.slug},
    )
    assert isinstance(form, CompatibleProviderForm)
    prefix = formset.add_prefix(index)
    return ProviderBlock(
        index,
        form,
        models_formset(prefix, extra=1),
        headers_formset(prefix),
        None,
    )


def posted_values(form: forms.Form) -> dict[str, Any]:
    """What a bound form's fields hold as posted, as the initial values of an unbound form."""
    return {name: form[name].data for name in form.fields}


_Rows = TypeVar("_Rows", bound=RemovableFormSet)


def unbound_copy(formset: _Rows) -> _Rows:
    """A bound formset as an unbound one with the same rows, holding the posted values; rows
    that were new when posted stay new."""
    rows = [posted_values(form) for form in formset.forms]
    return type(formset)(
        prefix=formset.prefix,
        initial=rows,
        stored_rows=min(formset.initial_form_count(), len(rows)),
    )


def _typed_secrets(data: Mapping[str, Any] | None) -> bool:
    """Whether a POST carried a key or header value (inputs never render it back)."""
    if data is None:
        return False
    return any(value for name, value in data.items() if name.endswith(("-api_key", "-value")))


class SettingsPage:
    """Every form on the page: fresh from the stored settings or bound to one POST (`build`),
    or a posted page shown again (`shown_again`)."""

    def __init__(
        self,
        row: AISettings,
        settings_form: AISettingsForm,
        provider_forms: list[BuiltinProviderForm],
        provider_formset: RemovableFormSet,
        blocks: list[ProviderBlock],
        *,
        disabled: bool,
        typed_secrets: bool,
    ) -> None:
        self.row = row
        self.settings_form = settings_form
        self.provider_forms = provider_forms
        self.provider_formset = provider_formset
        self.blocks = blocks
        self.disabled = disabled
        self.typed_secrets = typed_secrets
        if disabled:
            for form in self.all_forms():
                _disable(form)

    @classmethod
    def build(
        cls,
        row: AISettings,
        providers: list[CompatibleProvider],
        data: Mapping[str, Any] | None = None,
        *,
        disabled: bool = False,
    ) -> SettingsPage:
        by_pk = {p.pk: p for p in providers}
        provider_initial = [{"id": p.pk, "name": p.name, "base_url": p.base_url} for p in providers]
        provider_formset = ProviderFormSet(
            data, prefix=PROVIDERS_PREFIX, initial=None if data is not None else provider_initial
        )
        blocks = []
        for index, form in enumerate(provider_formset.forms):
            stored: CompatibleProvider | None
            if data is None:
                stored = providers[index]
            else:
                pk = posted_id(form)
                stored = by_pk.get(pk) if pk is not None else None
            blocks.append(
                ProviderBlock(
                    index,
                    form,
                    models_formset(form.prefix, data, stored),
                    headers_formset(form.prefix, data, stored),
                    stored,
                )
            )
        return cls(
            row,
            AISettingsForm(data, row=row),
            [BuiltinProviderForm(data, kind=kind, row=row) for kind in BUILTIN_KINDS],
            provider_formset,
            blocks,
            disabled=disabled,
            typed_secrets=_typed_secrets(data),
        )

    def shown_again(self) -> SettingsPage:
        """This posted page as unbound forms holding the posted values: the page shown after
        "Add …" and similar buttons, which save nothing, so half-filled rows are not errors
        yet."""
        provider_formset = unbound_copy(self.provider_formset)
        blocks = [
            ProviderBlock(
                block.index, form, unbound_copy(block.models), unbound_copy(block.headers),
                block.stored,
            )
            for block, form in zip(self.blocks, provider_formset.forms, strict=True)
        ]  # fmt: skip
        return SettingsPage(
            self.row,
            AISettingsForm(row=self.row, initial=posted_values(self.settings_form)),
            [
                BuiltinProviderForm(kind=form.kind, row=self.row, initial=posted_values(form))
                for form in self.provider_forms
            ],
            provider_formset,
            blocks,
            disabled=self.disabled,
            typed_secrets=self.typed_secrets,
        )

    def all_forms(self) -> list[forms.Form]:
        found: list[forms.Form] = [
            self.settings_form,
            *self.provider_forms,
            *self.provider_formset.forms,
        ]
        for block in self.blocks:
            found += block.models.forms + block.headers.forms
        return found

    @property
    def builtin_providers(self) -> list[BuiltinProvider]:
        return [
            BuiltinProvider(form, secret_status(self.row.api_key_for(form.kind)))
            for form in self.provider_forms
        ]

    def provider_form(self, kind: str) -> BuiltinProviderForm:
        return next(form for form in self.provider_forms if form.kind == kind)

    @property
    def posted_version(self) -> int | None:
        raw = self.settings_form["version"].value()
        return whole_number(str(raw)) if raw is not None else None

    def block(self, prefix: str) -> ProviderBlock | None:
        return next((b for b in self.blocks if b.prefix == prefix), None)

    def is_valid(self) -> bool:
        valid = self.settings_form.is_valid()
        for form in self.provider_forms:
            valid = form.is_valid() and valid
        for block in self.blocks:
            if block.in_use and not block.is_deleted:
                block.form.empty_permitted = False
        valid = self.provider_formset.is_valid() and valid
        for block in self.blocks:
            if block.is_deleted or not block.in_use:
                continue
            valid = block.models.is_valid() and valid
            valid = block.headers.is_valid() and valid
            if block.posted_id is not None and block.stored is None:
                block.form.add_error(None, "This provider no longer exists. Reload the page.")
                valid = False
        return valid

    def error_count(self) -> int:
        count = len(self.settings_form.errors) + len(self.provider_formset.non_form_errors())
        count += sum(len(form.errors) for form in self.provider_forms)
        for block in self.blocks:
            if block.is_deleted or not block.in_use:
                continue
            count += len(block.form.errors)
            for formset in (block.models, block.headers):
                count += sum(len(f.errors) for f in formset.forms)
                count += len(formset.non_form_errors())
        return count
