"""Settings of the load test's server: the production configuration (config.settings with
DEBUG off, from the environment tests/config/test_load.py sets), with static files served
from their sources (no collectstatic manifest needed for a test run). The multi-host tests
(tests/config/test_turns_across_hosts.py) shorten the turns' heartbeat from the environment,
so that a dead worker's turn is found in seconds."""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403

if "TURN_HEARTBEAT_SECONDS" in os.environ:
    TURN_HEARTBEAT_SECONDS = float(os.environ["TURN_HEARTBEAT_SECONDS"])
if "TURN_STALE_AFTER" in os.environ:
    TURN_STALE_AFTER = float(os.environ["TURN_STALE_AFTER"])

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = BASE_DIR / "static"  # noqa: F405  (whitenoise serves the sources)
STATICFILES_DIRS: list = []  # the same folder may not be both
