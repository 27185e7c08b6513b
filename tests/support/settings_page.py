"""Test support for Settings → AI: submit the page's form the way a browser would.

`form_data(html)` reads the settings form out of the rendered page (inputs, checked boxes,
textareas, selected options; disabled controls and buttons left out) so a test changes a few
fields and posts the rest as the browser would have.
"""

from __future__ import annotations

from html.parser import HTMLParser

from django.db import connection

URL = "/settings/ai/"
FORM_ID = "ai-settings-form"


class FormData:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.getlist(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def set(self, name: str, value: str) -> FormData:
        self.remove(name)
        self.pairs.append((name, str(value)))
        return self

    def add(self, name: str, value: str) -> FormData:
        self.pairs.append((name, str(value)))
        return self

    def remove(self, name: str, value: str | None = None) -> FormData:
        self.pairs = [
            (k, v) for k, v in self.pairs if not (k == name and (value is None or v == value))
        ]
        return self

    def post(self, action: str = "save") -> dict[str, list[str]]:
        data: dict[str, list[str]] = {}
        for key, value in self.pairs:
            data.setdefault(key, []).append(value)
        data["action"] = [action]
        return data


class _FormParser(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.disabled_fieldsets = 0
        self.fieldsets: list[bool] = []
        self.pairs: list[tuple[str, str]] = []
        self.textarea: tuple[str, list[str], bool] | None = None
        self.select: tuple[str, bool] | None = None
        self.option: tuple[str | None, list[str], bool] | None = None

    def _disabled(self, attrs: dict) -> bool:
        return "disabled" in attrs or any(self.fieldsets)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.in_form = True
            return
        if not self.in_form:
            return
        if tag == "fieldset":
            self.fieldsets.append("disabled" in attrs)
        elif tag == "input":
            name, kind = attrs.get("name"), attrs.get("type", "text")
            if not name or self._disabled(attrs) or kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.pairs.append((name, attrs.get("value", "on")))
            else:
                self.pairs.append((name, attrs.get("value") or ""))
        elif tag == "textarea" and attrs.get("name"):
            self.textarea = (attrs["name"], [], self._disabled(attrs))
        elif tag == "select" and attrs.get("name"):
            self.select = (attrs["name"], self._disabled(attrs))
        elif tag == "option" and self.select:
            self.option = (attrs.get("value"), [], "selected" in attrs)

    def handle_endtag(self, tag):
        if not self.in_form:
            return
        if tag == "form":
            self.in_form = False
        elif tag == "fieldset" and self.fieldsets:
            self.fieldsets.pop()
        elif tag == "textarea" and self.textarea:
            name, parts, disabled = self.textarea
            text = "".join(parts)
            if not disabled:
                self.pairs.append((name, text.removeprefix("\n")))
            self.textarea = None
        elif tag == "option" and self.option and self.select:
            value, parts, selected = self.option
            if selected and not self.select[1]:
                self.pairs.append((self.select[0], value if value is not None else "".join(parts)))
            self.option = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data):
        if self.textarea:
            self.textarea[1].append(data)
        elif self.option:
            self.option[1].append(data)


def form_data(html: str, form_id: str = FORM_ID) -> FormData:
    parser = _FormParser(form_id)
    parser.feed(html)
    return FormData(parser.pairs)


def open_form(client) -> FormData:
    response = client.get(URL)
    assert response.status_code == 200
    return form_data(response.text)


def raw_column(table: str, column: str, pk: int) -> bytes:
    """The stored bytes of an encrypted column, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        value = cursor.fetchone()[0]
    return bytes(value)
