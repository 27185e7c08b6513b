"""Key rotation: re-encrypt every stored secret under the first of FERNET_KEYS.

Deploy with FERNET_KEYS=new,old, run `manage.py rotate_ai_keys`, then drop the old key.
Empty values are re-encrypted too (they are ciphertext as well); values no configured key can
decrypt are left as they are and counted, so an administrator can enter them again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction
from fernet_fields import EncryptedField

from ai_settings.current import bump_version
from ai_settings.fields import UNDECRYPTABLE, forget_cached_keys


def secret_fields() -> list[tuple[type[models.Model], tuple[str, ...]]]:
    """Every model with encrypted columns (the AI settings keys, compatible providers' keys
    and custom headers, and any added later)."""
    found = []
    for model in apps.get_models():
        names = tuple(f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedField))
        if names:
            found.append((model, names))
    return found


@dataclass
class RotationReport:
    reencrypted: int = 0
    empty: int = 0
    undecryptable: int = 0


def rotate_secrets() -> RotationReport:
    forget_cached_keys()  # use FERNET_KEYS as configured now
    report = RotationReport()
    with transaction.atomic():
        for model, fields in secret_fields():
            for obj in model._base_manager.select_for_update().only("pk", *fields):
                updates = {}
                for name in fields:
                    value = getattr(obj, name)
                    if value is UNDECRYPTABLE:
                        report.undecryptable += 1
                        continue
                    if value is None:
                        report.empty += 1
                        continue
                    if value:
                        report.reencrypted += 1
                    else:
                        report.empty += 1
                    updates[name] = value
                if updates:
                    # update() encrypts with the first key (MultiFernet encrypts with the first).
                    model._base_manager.filter(pk=obj.pk).update(**updates)
        if report.reencrypted or report.empty:
            bump_version()
    return report


def count_undecryptable() -> int:
    """How many stored secrets no key of FERNET_KEYS can decrypt."""
    count = 0
    for model, fields in secret_fields():
        for obj in model._base_manager.only("pk", *fields):
            count += sum(1 for name in fields if getattr(obj, name) is UNDECRYPTABLE)
    return count
