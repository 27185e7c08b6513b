"""The assistant's pages. (Built out by the chat issue; this is the page shell.)"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from assistant.access import app_access_required


@app_access_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "assistant/index.html")
