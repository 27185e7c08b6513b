"""The assistant's URLs. A project mounts all three apps with one include:

    path("", include("assistant.urls"))

Settings → AI (and usage) at settings/ai/, the chat at assistant/, API tokens and the prompt
picker at prompts/. The MCP server is not here: it is an ASGI app (assistant.mcp.asgi).
"""

from __future__ import annotations

from django.urls import include, path

from ai_settings import urls as settings_urls
from assistant import picker_views, tool_settings_views, views
from assistant.mcp import views as token_views
from assistant.usage import views as usage_views

chat_patterns = [
    path("", views.index, name="index"),
    path("panel/", views.panel, name="panel"),
    path("new/", views.new_conversation, name="new"),
    path("messages/", views.send, name="send"),
    path("retry/", views.retry, name="retry"),
    path("tools/", tool_settings_views.tool_settings, name="tool_settings"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/messages/", views.send, name="send_to"),
    path("c/<int:pk>/rename/", views.rename_conversation, name="rename"),
    path("c/<int:pk>/delete/", views.delete_conversation, name="delete"),
    path("c/<int:pk>/messages/<int:message_id>/stop/", views.stop, name="stop"),
    path("messages/<int:message_id>/resume/", views.resume, name="resume"),
    path("turns/<slug:turn_key>/", views.follow, name="follow"),
    path(
        "tool-calls/<int:pk>/approve/",
        views.tool_decision,
        {"decision": "approve"},
        name="tool_approve",
    ),
    path("tool-calls/<int:pk>/deny/", views.tool_decision, {"decision": "deny"}, name="tool_deny"),
    path(
        "tool-calls/<int:pk>/answer/",
        views.tool_decision,
        {"decision": "answer"},
        name="tool_answer",
    ),
    path(
        "tool-calls/<int:pk>/dismiss/",
        views.tool_decision,
        {"decision": "dismiss"},
        name="tool_dismiss",
    ),
]

# API tokens and the prompt picker keep the "prompts" namespace they have always had.
prompt_patterns = [
    path("tokens/", token_views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", token_views.revoke, name="revoke_token"),
    path("picker/", picker_views.picker, name="picker"),
    path("picker/<slug:name>/", picker_views.prompt_form, name="prompt_form"),
]

# Settings → AI and, beside it, the usage and cost controls.
settings_patterns = [
    *settings_urls.urlpatterns,
    path("usage/", usage_views.usage_page, name="usage"),
    path("usage.csv", usage_views.usage_csv, name="usage_csv"),
    path("groups/", usage_views.groups_page, name="groups"),
]

urlpatterns = [
    path("settings/ai/", include((settings_patterns, "ai_settings"))),
    path("assistant/", include((chat_patterns, "assistant"))),
    path("prompts/", include((prompt_patterns, "prompts"))),
]
