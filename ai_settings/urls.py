"""Settings → AI. Mounted by assistant.urls (with the usage pages, which live in the
assistant app, under the same ai_settings namespace)."""

from __future__ import annotations

from django.urls import path

from ai_settings import views

app_name = "ai_settings"

urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("rows/provider/", views.new_provider, name="new_provider"),
    path("rows/model/", views.new_model_row, name="new_model_row"),
    path("rows/header/", views.new_header_row, name="new_header_row"),
    path("test-connection/", views.test_connection, name="test_connection"),
    path("generate-collection/", views.generate_collection, name="generate_collection"),
]
