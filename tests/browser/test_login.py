from __future__ import annotations

from tests.support.browser import log_in


def test_app_user_logs_in_and_sees_the_nav(page, app_user):
    log_in(page, "app-user")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Assistant", exact=True).is_visible()
    assert nav.get_by_role("link", name="Settings → AI").count() == 0


def test_superuser_sees_settings_and_admin_in_the_nav(page, superuser):
    log_in(page, "root")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Assistant", "Settings → AI", "Admin"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible()
