"""The bookshop's URLs: its shop pages and admin, and the assistant's (one include)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from shop import views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("assistant.urls")),  # assistant: Settings → AI, the chat, prompts
]
urlpatterns += staticfiles_urlpatterns()  # development only (DEBUG)
