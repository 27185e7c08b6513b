"""Settings → AI. (Built out by the Settings → AI issue; this is the page shell.)"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ai_settings.access import manage_ai_settings_required


@manage_ai_settings_required
def settings_page(request: HttpRequest) -> HttpResponse:
    return render(request, "ai_settings/settings.html")
