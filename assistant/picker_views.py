"""The chat's prompt picker (partials, App access): the active collection's published prompts
after "/", and the fields one prompt's variables need."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ai_settings.current import get_current
from assistant.access import app_access_required
from prompts.forms import PromptValuesForm
from prompts.queries import UnknownPrompt, active_collection, published_prompt, published_prompts
from prompts.rendering import variables


@app_access_required
@require_GET
def picker(request: HttpRequest) -> HttpResponse:
    """Partial: the active collection's published prompts, for the chat's prompt picker."""
    collection_id = get_current().prompts_collection_id
    context = {
        "prompts": published_prompts(collection_id),
        "has_collection": active_collection(collection_id) is not None,
    }
    return render(request, "prompts/_picker.html", context)


@app_access_required
@require_GET
def prompt_form(request: HttpRequest, name: str) -> HttpResponse:
    """Partial: the fields asking for one prompt's variables (none: nothing to ask)."""
    try:
        prompt = published_prompt(get_current().prompts_collection_id, name)
    except LookupError as error:  # NoActiveCollection or UnknownPrompt
        status = 404 if isinstance(error, UnknownPrompt) else 409
        return render(request, "prompts/_prompt_error.html", {"error": str(error)}, status=status)
    form = PromptValuesForm(variables(prompt))
    return render(request, "prompts/_prompt_fields.html", {"prompt": prompt, "form": form})
