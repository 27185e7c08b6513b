"""Seed the load test's database (run in a subprocess with its environment):

    python -m tests.support.load_seed <fake base URL> <users>

creates an OpenAI-compatible provider served by the fake, that many App users with a
signed-in session each, and prints {"model": key, "sessions": [...]} as JSON."""

from __future__ import annotations

import json
import sys


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    from ai_settings.current import bump_version
    from ai_settings.models import AISettings, CompatibleModel, CompatibleProvider

    base_url, count = sys.argv[1], int(sys.argv[2])
    row = AISettings.load()
    row.rate_limit_per_minute = 1000
    row.save()
    provider = CompatibleProvider.objects.create(name="Load fake", base_url=base_url)
    CompatibleModel.objects.create(provider=provider, model_id="echo", display_name="Echo")
    bump_version()
    unusable = make_password(None)
    User.objects.bulk_create(
        User(username=f"load-{number:03d}", password=unusable) for number in range(count)
    )
    users = list(User.objects.filter(username__startswith="load-").order_by("username"))
    Group.objects.get(name="App users").user_set.add(*users)
    sessions = []
    for user in users:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append(store.session_key)
    print(json.dumps({"model": f"compat-{provider.pk}:echo", "sessions": sessions}))


if __name__ == "__main__":
    main()
