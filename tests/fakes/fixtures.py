"""pytest fixtures for the fake providers: `fake_openai`, `fake_anthropic`, `fake_gemini`, and
`fake_website`, a server that is not a provider.

Each server starts once per test session (on first use) and is reset — script, recorded
requests, default reply, models, errors — before and after every test that uses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest


def _session_server(module: str, class_name: str) -> Any:
    @pytest.fixture(scope="session")
    def server() -> Iterator[Any]:
        server_class = getattr(importlib.import_module(module), class_name)
        with server_class() as started:
            yield started

    return server


_fake_openai_server = _session_server("tests.fakes.openai_server", "FakeOpenAI")
_fake_anthropic_server = _session_server("tests.fakes.anthropic_server", "FakeAnthropic")
_fake_gemini_server = _session_server("tests.fakes.gemini_server", "FakeGemini")
_fake_website_server = _session_server("tests.fakes.website", "FakeWebsite")


def _reset_around(server: Any) -> Iterator[Any]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def fake_openai(_fake_openai_server: Any) -> Iterator[Any]:
    """The fake OpenAI / OpenAI-compatible server (tests.fakes.openai_server.FakeOpenAI)."""
    yield from _reset_around(_fake_openai_server)


@pytest.fixture
def fake_anthropic(_fake_anthropic_server: Any) -> Iterator[Any]:
    """The fake Anthropic server (tests.fakes.anthropic_server.FakeAnthropic)."""
    yield from _reset_around(_fake_anthropic_server)


@pytest.fixture
def fake_gemini(_fake_gemini_server: Any) -> Iterator[Any]:
    """The fake Gemini server (tests.fakes.gemini_server.FakeGemini)."""
    yield from _reset_around(_fake_gemini_server)


@pytest.fixture
def fake_website(_fake_website_server: Any) -> Iterator[Any]:
    """A plain HTTP server answering a web page at every path (tests.fakes.website)."""
    yield from _reset_around(_fake_website_server)
