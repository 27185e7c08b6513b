"""ASGI entry point: Django, with the MCP server mounted beside it at /mcp."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

# The MCP app is added by the prompts app (issue 7); until then Django serves everything.
application = django_application
