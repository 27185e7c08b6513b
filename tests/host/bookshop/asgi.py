"""ASGI config for bookshop: Django's own handler, with the assistant's MCP server at /mcp."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bookshop.settings")

django_application = get_asgi_application()

from assistant.mcp.asgi import with_mcp  # noqa: E402  (assistant; needs Django set up)

application = with_mcp(django_application)
