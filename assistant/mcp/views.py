"""The API tokens page: any signed-in user (AI enabled) creates and revokes the personal tokens
MCP clients send."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from ai_settings.current import get_current
from assistant.access import ai_login_required
from prompts.forms import ApiTokenForm
from prompts.models import ApiToken
from prompts.tokens import create_token, revoke_token
from prompts.users import SignedInRequest


def _tokens_page(
    request: SignedInRequest, form: ApiTokenForm, new_token: str = "", status: int = 200
) -> HttpResponse:
    current = get_current()
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": ApiToken.objects.filter(user=request.user),
        "mcp_enabled": current.mcp_enabled,
        "mcp_url": request.build_absolute_uri("/mcp"),
    }
    return render(request, "prompts/tokens.html", context, status=status)


@never_cache
@ai_login_required
@require_http_methods(["GET", "POST"])
def tokens(request: SignedInRequest) -> HttpResponse:
    if request.method == "GET":
        return _tokens_page(request, ApiTokenForm(user=request.user))
    form = ApiTokenForm(request.POST, user=request.user)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    _, raw = create_token(request.user, form.cleaned_data["name"])
    # Shown on this response only: the page is never cached and the token is not stored.
    return _tokens_page(request, ApiTokenForm(user=request.user), new_token=raw)


@ai_login_required
@require_POST
def revoke(request: SignedInRequest, token_id: int) -> HttpResponse:
    if not revoke_token(request.user, token_id):
        raise Http404("No such active token.")
    messages.success(request, "Token revoked: MCP clients using it are refused from now on.")
    return redirect("prompts:tokens")
