"""Settings → AI: the page, the rows htmx adds in place, "Generate new collection" and
"Test connection"."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ai_settings import actions, audit, connection_test, presets, saving
from ai_settings.access import ai_enabled, manage_ai_settings_required
from ai_settings.default_prompt import DEFAULT_SYSTEM_PROMPT
from ai_settings.forms import (
    MAX_PROVIDERS,
    AISettingsForm,
    HeaderFormSet,
    ModelRowFormSet,
    RemovableFormSet,
)
from ai_settings.models import AISettings
from ai_settings.page import (
    HEADERS_PREFIX,
    MODELS_PREFIX,
    PROVIDERS_PREFIX,
    BuiltinProvider,
    ProviderBlock,
    SettingsPage,
    load_providers,
    new_block,
    new_row,
)
from prompts.examples import create_example_collection
from prompts.request_numbers import whole_number
from prompts.users import SignedInRequest

if TYPE_CHECKING:
    from ai_settings.connection_test import ConnectionResult

DISABLED_MESSAGE = (
    "AI Assistant is disabled by the environment (AI_ENABLED=false): settings cannot be changed."
)


def _page(data: QueryDict | None = None) -> SettingsPage:
    return SettingsPage.build(AISettings.load(), load_providers(), data, disabled=not ai_enabled())


def _render(
    request: HttpRequest,
    page: SettingsPage,
    *,
    status: int = 200,
    test_results: dict[str, ConnectionResult] | None = None,
    **extra: Any,
) -> HttpResponse:
    builtin = page.builtin_providers
    shown: list[BuiltinProvider | ProviderBlock] = [*builtin, *page.blocks]
    for item in shown:
        item.test_result = (test_results or {}).get(item.target)
    context = {
        "page": page,
        "builtin_providers": builtin,
        "blocks": page.blocks,
        "presets": presets.PRESETS,
        "default_prompt": DEFAULT_SYSTEM_PROMPT,
        "audit_entries": audit.recent(),
        "keys_not_kept": page.typed_secrets,
        **extra,
    }
    return render(request, "ai_settings/settings.html", context, status=status)


def _refused_while_disabled(request: SignedInRequest) -> HttpResponse:
    if request.htmx:
        return HttpResponse(DISABLED_MESSAGE, status=403, content_type="text/plain")
    return _render(request, _page(), status=403, error=DISABLED_MESSAGE)


def _stale(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        _page(),
        status=409,
        error=f"{saving.STALE_MESSAGE} The page now shows the current settings: "
        "make your changes again.",
    )


# Every POST of the page carries keys: keep them out of error reports.
@sensitive_post_parameters()
@manage_ai_settings_required
@require_http_methods(["GET", "HEAD", "POST"])
def settings_page(request: SignedInRequest) -> HttpResponse:
    if request.method != "POST":
        return _render(request, _page())
    if not ai_enabled():
        return _refused_while_disabled(request)
    data = request.POST.copy()
    action = data.get("action", "save")
    data.pop("action", None)
    if action != "save":
        return _run_action(request, data, action)

    page = _page(data)
    if page.posted_version != page.row.version:
        return _stale(request)
    if not page.is_valid():
        count = page.error_count()
        return _render(
            request,
            page,
            status=400,
            error=f"Nothing was saved: correct the {count} error{'s' if count != 1 else ''} below.",
        )
    try:
        changes = saving.save(page, request.user)
    except saving.StaleSettings:
        return _stale(request)
    messages.success(request, "Settings saved." if changes else "No changes to save.")
    return redirect("ai_settings:settings")


def _run_action(request: SignedInRequest, data: QueryDict, action: str) -> HttpResponse:
    try:
        outcome = actions.apply(data, action, request.user)
    except actions.UnknownAction as error:
        return _render(request, _page(data).shown_again(), status=400, error=str(error))
    page = _page(data)
    results: dict[str, ConnectionResult] = {}
    if outcome.test_target:
        results[outcome.test_target] = async_to_sync(connection_test.run)(
            page, outcome.test_target, request.user
        )
    return _render(request, page.shown_again(), notice=outcome.message, test_results=results)


def _index(query: QueryDict, prefix: str, cap: int) -> int | None:
    """The index of the row to add: the posted row count, while there is room for one more."""
    return whole_number(query.get(f"{prefix}-TOTAL_FORMS", "0"), maximum=cap - 1)


@manage_ai_settings_required
@require_GET
def new_provider(request: SignedInRequest) -> HttpResponse:
    if not ai_enabled():
        return _refused_while_disabled(request)
    index = _index(request.GET, PROVIDERS_PREFIX, MAX_PROVIDERS)
    if index is None:
        return HttpResponseBadRequest(
            f"providers-TOTAL_FORMS must be a number of rows below {MAX_PROVIDERS}."
        )
    block = new_block(index, presets.preset(request.GET.get("preset", "")))
    context = {"block": block, "total": index + 1}
    return render(request, "ai_settings/partials/new_provider.html", context)


def _new_nested_row(
    request: SignedInRequest,
    pattern: re.Pattern[str],
    formset_class: type[RemovableFormSet],
    template: str,
    initial: dict[str, Any],
) -> HttpResponse:
    if not ai_enabled():
        return _refused_while_disabled(request)
    prefix = request.GET.get("prefix", "")
    index = _index(request.GET, prefix, formset_class.absolute_max)
    if not pattern.match(prefix) or index is None:
        return HttpResponseBadRequest("Unknown rows.")
    form = new_row(formset_class(prefix=prefix), index, initial)
    context = {"form": form, "prefix": prefix, "total": index + 1}
    return render(request, template, context)


@manage_ai_settings_required
@require_GET
def new_model_row(request: SignedInRequest) -> HttpResponse:
    initial = {"model_id": request.GET.get("model_id", "")[:200]}
    return _new_nested_row(
        request, MODELS_PREFIX, ModelRowFormSet, "ai_settings/partials/new_model_row.html", initial
    )


@manage_ai_settings_required
@require_GET
def new_header_row(request: SignedInRequest) -> HttpResponse:
    return _new_nested_row(
        request, HEADERS_PREFIX, HeaderFormSet, "ai_settings/partials/new_header_row.html", {}
    )


@sensitive_post_parameters()
@manage_ai_settings_required
@require_POST
def generate_collection(request: SignedInRequest) -> HttpResponse:
    if not ai_enabled():
        return _refused_while_disabled(request)
    collection = create_example_collection(request.user)
    form = AISettingsForm(row=AISettings.load(), initial={"prompts_collection": collection.pk})
    context = {"field": form["prompts_collection"], "generated": collection}
    return render(request, "ai_settings/partials/collection_field.html", context)


@sensitive_post_parameters()
@manage_ai_settings_required
@require_POST
async def test_connection(request: SignedInRequest) -> HttpResponse:
    if not ai_enabled():
        return await sync_to_async(_refused_while_disabled)(request)
    data = request.POST.copy()
    target = data.get("target", "")
    page = await sync_to_async(_page)(data)
    result = await connection_test.run(page, target, await request.auser())
    html = await sync_to_async(render_to_string)(
        "ai_settings/partials/test_result.html", {"result": result}, request
    )
    return HttpResponse(html)
