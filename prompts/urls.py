from __future__ import annotations

from django.urls import path

from prompts import views

app_name = "prompts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke_token"),
    path("picker/", views.picker, name="picker"),
    path("picker/<slug:name>/", views.prompt_form, name="prompt_form"),
]
