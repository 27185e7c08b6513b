"""Assistant markdown → safe HTML: markdown-it-py renders (raw HTML escaped, tables on,
images off), nh3 sanitizes. Code blocks come from a template that adds the copy button."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import nh3
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
    "code", "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr",
    "th", "td", "div", "span", "button",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "button": {"type", "aria-label"},
    "code": {"data-lang"},
}
_ALLOWED_CLASSES = {
    "div": {"code-block", "code-header"},
    "span": {"code-lang"},
    "button": {"copy-code", "button-small", "button-secondary", "button"},
    "th": {"align-left", "align-center", "align-right"},
    "td": {"align-left", "align-center", "align-right"},
}
_ALIGN_CLASSES = {f"text-align:{side}": f"align-{side}" for side in ("left", "center", "right")}


def _alignment_as_classes(state: StateCore) -> None:
    """Tables align columns with style="" attributes, which the CSP forbids: use classes."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrs.pop("style", None)
            if style in _ALIGN_CLASSES:
                token.attrSet("class", _ALIGN_CLASSES[str(style)])


def _render_code(code: str, language: str) -> str:
    return get_template("assistant/partials/code_block.html").render(
        {"code": code, "language": language}
    )


def _fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return _render_code(token.content, language)


def _code_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _render_code(tokens[idx].content, "")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # Images from model output could leak data to another host when loaded: render none.
    md.disable("image")
    md.core.ruler.push("alignment_as_classes", _alignment_as_classes)
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _code_block)
    return md


def render_markdown(text: str) -> SafeString:
    """Sanitized HTML for an assistant answer: no scripts, no event handlers, no javascript:
    links; links get rel="noopener nofollow"."""
    if not text:
        return mark_safe("")
    html = _parser().render(text)
    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener nofollow",
        clean_content_tags={"script", "style"},
    )
    return mark_safe(cleaned)  # noqa: S308 (nh3's output: only the tags and attributes above)
