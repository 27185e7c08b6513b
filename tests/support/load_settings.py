"""Settings of the load test's server: the production configuration (config.settings with
DEBUG off, from the environment tests/config/test_load.py sets), with static files served
from their sources (no collectstatic manifest needed for a test run)."""

from __future__ import annotations

from config.settings import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = BASE_DIR / "static"  # noqa: F405  (whitenoise serves the sources)
STATICFILES_DIRS: list = []  # the same folder may not be both
