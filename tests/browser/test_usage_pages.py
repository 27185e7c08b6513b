"""The usage chart and the group policy form in a real Chromium."""

from __future__ import annotations

import os
from datetime import timedelta

from django.utils import timezone

from ai_settings.models import GroupAIPolicy
from tests.support.browser import log_in
from tests.support.usage import configure, group_with_policy, ledger_row


def _csp_violations(page) -> list[str]:
    messages: list[str] = []
    page.on(
        "console",
        lambda message: (
            messages.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return messages


def test_usage_chart_renders_visible_bars_and_legend(page, settings_manager, app_user):
    now = timezone.now()
    for days_ago, provider, tokens in [
        (0, "OpenAI", 900),
        (0, "Anthropic", 400),
        (2, "OpenAI", 300),
    ]:
        ledger_row(
            app_user, now - timedelta(days=days_ago), provider=provider, output_tokens=tokens
        )
    violations = _csp_violations(page)
    log_in(page, "manager")

    page.goto("/settings/ai/usage/?period=7")

    chart = page.get_by_role("img", name="Tokens per day by provider")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    bars = page.locator("svg.usage-chart rect.bar")
    assert bars.count() == 3
    for index in range(3):
        bar = bars.nth(index).bounding_box()
        assert bar["width"] > 0 and bar["height"] > 0
    # The tallest bar (today: 1,300 tokens) is taller than the one two days ago (300 tokens).
    heights = sorted(bars.nth(i).bounding_box()["height"] for i in range(3))
    assert heights[-1] > heights[0]
    assert page.locator("svg.usage-chart .legend text").all_text_contents() == [
        "OpenAI",
        "Anthropic",
    ]
    assert page.locator('[data-total="tokens"]').inner_text() == "1,600"
    assert violations == []
    if path := os.environ.get("USAGE_SCREENSHOT"):
        page.screenshot(path=path, full_page=True)


def test_manager_restricts_a_group_to_one_model(page, settings_manager, app_user):
    configure()
    group = group_with_policy("Interns", [app_user])
    violations = _csp_violations(page)
    log_in(page, "manager")
    page.goto("/settings/ai/groups/")

    section = page.locator(f"#group-{group.pk}")
    section.get_by_label("Daily token budget").fill("20000")
    section.get_by_label("Only these models").check()
    section.get_by_label("GPT-5 Mini").check()
    section.get_by_role("button", name="Save Interns").click()

    page.get_by_text("Saved the AI policy of “Interns”.").wait_for()
    policy = GroupAIPolicy.objects.get(group=group)
    assert (policy.daily_token_budget, policy.allowed_models) == (20_000, ["openai:gpt-5-mini"])
    assert page.locator(f"#group-{group.pk}").get_by_label("GPT-5 Mini").is_checked()
    assert violations == []
    if path := os.environ.get("USAGE_SCREENSHOT"):
        page.screenshot(path=path.replace(".png", "-groups.png"), full_page=True)


def test_chat_shows_the_tokens_left_and_the_budget_refusal(page, app_user, fake_openai, settings):
    from tests.fakes.script import Reply
    from tests.support.chat import add_local_provider
    from tests.support.chat import configure as configure_chat

    add_local_provider(fake_openai)
    configure_chat(settings=settings, daily_token_budget=150)
    answer = Reply(text="A short answer.", input_tokens=20, output_tokens=80)
    fake_openai.script(answer, answer)
    violations = _csp_violations(page)
    log_in(page, "app-user")

    page.get_by_role("button", name="Assistant", exact=True).click()
    panel = page.get_by_role("complementary", name="Assistant panel")
    budget = panel.locator("#chat-budget")
    budget.wait_for()
    assert budget.inner_text() == "150 tokens left today"
    message_box = panel.get_by_role("textbox", name="Message")
    message_box.fill("Hello")
    message_box.press("Enter")

    panel.locator(".message-assistant.status-complete").wait_for()
    assert "20 in · 80 out tokens" in panel.locator(".message-assistant").inner_text()
    page.wait_for_function(
        "() => document.querySelector('#chat-budget').textContent === '50 tokens left today'"
    )

    # 50 tokens left: the next message may still start, and it uses up the budget.
    message_box.fill("And another thing")
    message_box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#chat-budget').textContent === '0 tokens left today'"
    )
    message_box.fill("One more")
    message_box.press("Enter")
    refusal = panel.get_by_role("alert")
    refusal.wait_for()
    assert "Your daily token budget is used up; it resets at 00:00 UTC" in refusal.inner_text()
    assert len(fake_openai.generation_requests()) == 2
    assert violations == []
    if path := os.environ.get("USAGE_SCREENSHOT"):
        page.screenshot(path=path.replace(".png", "-chat.png"))


def test_totals_with_estimated_calls_show_the_approximate_sign(page, settings_manager, app_user):
    now = timezone.now()
    ledger_row(app_user, now, input_tokens=1_000, output_tokens=200)
    ledger_row(app_user, now, input_tokens=3_000, output_tokens=40, estimated=True)
    log_in(page, "manager")

    page.goto("/settings/ai/usage/?period=7")

    total = page.locator('[data-total="tokens"]')
    assert total.locator(".usage-estimated").is_visible()
    assert total.locator(".usage-estimated").inner_text() == "≈"
    assert total.text_content() == "≈about 4,240"  # read aloud as "about 4,240"
    assert page.get_by_test_id("usage-estimated-note").is_visible()
    assert not page.locator('[data-total="calls"] .usage-estimated').count()
