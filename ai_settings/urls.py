from django.urls import path

from ai_settings import views

app_name = "ai_settings"

urlpatterns = [
    path("", views.settings_page, name="settings"),
]

# Usage and cost controls (ai_settings/usage_views.py).
from ai_settings import usage_views  # noqa: E402

urlpatterns += [
    path("usage/", usage_views.usage_page, name="usage"),
    path("usage.csv", usage_views.usage_csv, name="usage_csv"),
    path("groups/", usage_views.groups_page, name="groups"),
]
