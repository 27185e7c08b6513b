"""What the tests import: accounts, the live server, set-up of the settings, chat, usage and
tools, readers of pages and streams. Fixtures live in the conftest.py files, the fake
providers in tests/fakes/."""
