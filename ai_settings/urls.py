from django.urls import path

from ai_settings import views

app_name = "ai_settings"

urlpatterns = [
    path("", views.settings_page, name="settings"),
]
