"""Django settings of the bench: the production configuration (config.settings with
DEBUG off, read from the environment bench.environment sets), except that static files are
not collected: templates get plain /static/ URLs instead of a manifest's hashed names."""

from __future__ import annotations

from config.settings import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Whitenoise looks for collected files here; the sources will do (no warning at start-up).
STATIC_ROOT = BASE_DIR / "static"  # noqa: F405
