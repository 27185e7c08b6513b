"""Template filters and tags of the chat: sanitized markdown, durations, a waiting tool
call's card."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from assistant.display import ToolCallView
from assistant.rendering import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text or "")


@register.filter
def seconds(milliseconds: int | None) -> str:
    """1234 → "1.2 s"; 900 → "0.9 s"; 80 → "0.08 s"."""
    if milliseconds is None:
        return ""
    value = milliseconds / 1000
    text = f"{value:.2f}" if value < 1 else f"{value:.1f}"
    return text.rstrip("0").rstrip(".") + " s" if "." in text else text + " s"


@register.simple_tag(takes_context=True)
def tool_card(context: template.Context, shown: ToolCallView) -> SafeString:
    """A waiting call's card, with the template and context assistant.display chose."""
    card_context = {**shown.card_context, "csrf_token": context.get("csrf_token")}
    html = render_to_string(shown.card_template, card_context)
    return mark_safe(html)  # noqa: S308 (a template the autoescaping engine rendered)
