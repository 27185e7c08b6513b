"""What the browser tests do in a page: sign in through the login form, open the chat."""

from __future__ import annotations

from tests.support.accounts import PASSWORD


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def open_chat(page):
    """The full-page assistant, with its message box ready."""
    page.goto("/assistant/")
    box = page.get_by_role("textbox", name="Message")
    box.wait_for()
    return box
