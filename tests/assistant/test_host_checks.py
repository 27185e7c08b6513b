"""The system checks that tell a host project what the assistant still needs, by id and hint."""

from __future__ import annotations

from django.core.checks import run_checks


def messages_by_id() -> dict[str, object]:
    return {message.id: message for message in run_checks()}


def without(items, unwanted: str) -> list:
    return [item for item in items if item != unwanted]


def test_this_project_passes_the_host_checks():
    found = messages_by_id()
    assert not {"assistant.E001", "assistant.E002", "assistant.E003", "assistant.W001"} & set(found)


def test_missing_htmx_middleware_is_an_error_naming_it(settings):
    settings.MIDDLEWARE = without(settings.MIDDLEWARE, "django_htmx.middleware.HtmxMiddleware")
    error = messages_by_id()["assistant.E001"]
    assert "django_htmx.middleware.HtmxMiddleware" in error.hint


def test_a_subclass_of_the_htmx_middleware_counts(settings):
    settings.MIDDLEWARE = [
        *without(settings.MIDDLEWARE, "django_htmx.middleware.HtmxMiddleware"),
        "tests.support.host_project.HostHtmxMiddleware",
    ]
    assert "assistant.E001" not in messages_by_id()


def test_missing_context_processors_are_errors(settings):
    engine = {**settings.TEMPLATES[0]}
    engine["OPTIONS"] = {**engine["OPTIONS"], "context_processors": []}
    settings.TEMPLATES = [engine]
    found = messages_by_id()
    assert "assistant.context_processors.assistant" in found["assistant.E002"].hint
    assert "django.template.context_processors.request" in found["assistant.E003"].hint


def test_no_content_security_policy_is_a_warning_with_the_policy(settings):
    del settings.CONTENT_SECURITY_POLICY
    warning = messages_by_id()["assistant.W001"]
    assert '"script-src": [SELF, NONCE]' in warning.hint
    assert "csp.middleware.CSPMiddleware" in warning.hint
