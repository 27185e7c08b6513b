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

# Usage and cost controls (ai_settings/usage_views.py).
from ai_settings import usage_views  # noqa: E402

urlpatterns += [
    path("usage/", usage_views.usage_page, name="usage"),
    path("usage.csv", usage_views.usage_csv, name="usage_csv"),
    path("groups/", usage_views.groups_page, name="groups"),
]
