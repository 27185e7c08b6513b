"""manage.py rotate_ai_keys: re-encrypt every AI secret under the first of FERNET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ai_settings.rotation import rotate_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored AI secret (provider API keys, custom headers) under the first "
        "key of FERNET_KEYS. Run it with FERNET_KEYS=new,old, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = rotate_secrets()
        self.stdout.write(
            f"Re-encrypted {report.reencrypted} secret(s) under the first FERNET_KEYS key; "
            f"{report.empty} empty (re-encrypted too); {report.undecryptable} undecryptable."
        )
        if report.undecryptable:
            self.stderr.write(
                self.style.WARNING(
                    f"{report.undecryptable} secret(s) cannot be decrypted with any FERNET_KEYS "
                    "key and were left as they are: enter them again on Settings → AI."
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS("Done: the old keys can be removed from FERNET_KEYS.")
            )
