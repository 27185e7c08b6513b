"""The offline demo model: answers a few bookshop requests with real tool calls.

`make demo` and the host-project test (tests/host/) point an OpenAI-compatible provider at the
fake OpenAI server with this responder. It reads the chat-completions request the way a model
would (the last user message, then the tool results that followed it) and takes the next step:

    "list the books low in stock"     schema → items read (stock < 5) → a list
    "raise the price of Dune to 12"   schema → items read (title) → items update → "Done"

Any other message gets a short answer saying what it can do. Nothing here knows the site: the
collection is found in the `schema` tool's result, so any app with a `book` model works.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.fakes.script import Call, Reply

LOW_STOCK = 5
_LOW_STOCK_REQUEST = re.compile(r"\blow\b.*\bstock\b|\bstock\b.*\blow\b", re.IGNORECASE)
_RAISE_PRICE = re.compile(
    r"\b(?:raise|increase|set|change)\s+the\s+price\s+of\s+[\"“']?(?P<title>.+?)[\"”']?"
    r"\s+to\s+(?P<price>\d+(?:\.\d{1,2})?)\b",
    re.IGNORECASE,
)

WHAT_I_CAN_DO = """\
I am the offline demo model: I answer without an API key, and I can show the assistant's tools \
on the sample bookshop data. Try:

- **list the books low in stock**: I look up the schema, then read the books with fewer than \
5 in stock.
- **raise the price of Dune to 12.50**: I find the book and propose the change; you approve \
it on a card before anything is written.

Everything I read or change goes through your own permissions."""


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _since_last_question(messages: list[dict[str, Any]]) -> tuple[str, list[tuple[str, Any]]]:
    """The last user message, and the (tool name, parsed result) pairs that came after it."""
    question_at = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if question_at is None:
        return "", []
    names: dict[str, str] = {}
    results: list[tuple[str, Any]] = []
    for message in messages[question_at + 1 :]:
        for call in message.get("tool_calls") or ():
            names[call.get("id", "")] = call.get("function", {}).get("name", "")
        if message.get("role") == "tool":
            try:
                result = json.loads(_text(message))
            except ValueError:
                result = {"error": _text(message)}
            results.append((names.get(message.get("tool_call_id", ""), ""), result))
    return _text(messages[question_at]), results


def _book_collection(schema: Any) -> str | None:
    for entry in (schema or {}).get("collections", ()):
        key = entry.get("collection", "")
        if key.endswith(".book"):
            return key
    return None


def _call(name: str, arguments: dict[str, Any], number: int) -> Reply:
    return Reply(tool_calls=(Call(name, arguments, id=f"call_demo_{number}"),), chunk_size=24)


def _answer(text: str) -> Reply:
    return Reply(text=text, chunk_size=6)


def _failure(result: Any) -> str | None:
    if isinstance(result, dict) and result.get("error"):
        return f"I could not do that: {result['error']}"
    return None


def _first_steps(results: list[tuple[str, Any]], read: dict[str, Any]) -> Reply | None:
    """The steps every request starts with: `schema` to find the books, then `items` read
    with `read`'s arguments; a failed call is answered. None once the books are read."""
    if not results:
        return _call("schema", {}, 1)
    name, result = results[-1]
    if (problem := _failure(result)) is not None:
        return _answer(problem)
    if name != "schema":
        return None
    collection = _book_collection(result)
    if collection is None:
        return _answer("I cannot see any books with your permissions.")
    return _call("items", {"action": "read", "collection": collection, **read}, 2)


def _low_stock(results: list[tuple[str, Any]]) -> Reply:
    read = {
        "fields": ["title", "stock", "price"],
        "filter": {"stock": {"_lt": LOW_STOCK}},
        "sort": ["stock", "title"],
    }
    if (step := _first_steps(results, read)) is not None:
        return step
    books = results[-1][1].get("items", [])
    if not books:
        return _answer(f"Every book has at least {LOW_STOCK} copies in stock.")
    lines = "\n".join(f"- **{b['title']}**: {b['stock']} in stock ({b['price']})" for b in books)
    return _answer(f"{len(books)} books have fewer than {LOW_STOCK} in stock:\n\n{lines}")


def _raise_price(match: re.Match[str], results: list[tuple[str, Any]]) -> Reply:
    title = match.group("title").strip()
    try:
        price = str(Decimal(match.group("price")).quantize(Decimal("0.01")))
    except InvalidOperation:
        return _answer("Tell me the new price as a number, e.g. 12.50.")
    read = {"fields": ["title", "price"], "filter": {"title": {"_icontains": title}}}
    if (step := _first_steps(results, read)) is not None:
        return step
    result = results[-1][1]
    if "updated" in result:
        return _answer(f"Done: “{title}” now costs {price}.")
    books = result.get("items", [])
    exact = [b for b in books if str(b.get("title", "")).casefold() == title.casefold()]
    books = exact or books
    if len(books) != 1:
        found = ", ".join(f"“{b['title']}”" for b in books) or "no book"
        return _answer(f"I found {found} for “{title}”; tell me which one exactly.")
    book = books[0]
    key = next((v for k, v in book.items() if k in ("id", "pk")), None)
    return _call(
        "items",
        {
            "action": "update",
            "collection": result["collection"],
            "keys": [key],
            "data": {"price": price},
        },
        3,
    )


def demo_answer(body: dict[str, Any]) -> Reply:
    """The next step for this chat-completions request."""
    question, results = _since_last_question(body.get("messages") or [])
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or ()}
    if {"schema", "items"} <= offered:
        if match := _RAISE_PRICE.search(question):
            return _raise_price(match, results)
        if _LOW_STOCK_REQUEST.search(question):
            return _low_stock(results)
    return _answer(WHAT_I_CAN_DO)
