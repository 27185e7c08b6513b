"""Create, update and delete for the `items` tool: values checked against the model, every
row validated with full_clean, the whole call in one transaction (all or nothing), and the
cascade of a delete checked the way Django admin checks it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.utils import NestedObjects
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, router, transaction
from django.utils import timezone

from assistant.tools import deny
from assistant.tools.arguments import PermissionDeniedError, ToolError, in_integer_range
from assistant.tools.collections import Collection, find_field, related_model
from prompts.users import User

MAX_WRITE_ITEMS = 500  # per call; larger changes are split by the model (or done in admin)


@dataclass
class _Assignment:
    m2m: list[tuple[models.Field, list[Any]]] = field(default_factory=list)


def _convert_pks(model: type[models.Model], values: Any, label: str) -> list[Any]:
    if not isinstance(values, list):
        raise ToolError(f"{label} takes an array of primary keys.")
    pk = model._meta.pk
    try:
        converted = [pk.to_python(value) for value in values]
    except ValidationError as error:
        raise ToolError(f"{label}: {' '.join(error.messages)}") from None
    except (TypeError, ValueError, OverflowError):
        raise ToolError(f"{label}: primary keys are {pk.get_internal_type()} values.") from None
    if not all(map(in_integer_range, converted)):
        raise ToolError(f"{label}: a key is out of range.")
    return converted


def convert_keys(model: type[models.Model], keys: list[Any]) -> list[Any]:
    converted = _convert_pks(model, keys, "`keys`")
    return list(dict.fromkeys(converted))  # unique, in the order given


def _check_related_exist(field: models.Field, pks: list[Any]) -> None:
    model = related_model(field)
    found = set(model._default_manager.filter(pk__in=pks).values_list("pk", flat=True))
    missing = [pk for pk in pks if pk not in found]
    if missing:
        raise ValidationError(
            {
                field.name: [
                    (f"No {model._meta.verbose_name} with key {', '.join(map(str, missing))}.")
                ]
            }
        )


def check_field_names(collection: Collection, values: Any, where: str, *, creating: bool) -> None:
    """Structural checks (before any row is touched): an object, known, writable fields."""
    if not isinstance(values, dict):
        raise ToolError(f"{where} must be an object of field values, not {values!r}.")
    if not values:
        raise ToolError(f"{where} is empty; give the field values to set.")
    model = collection.model
    for name in values:
        target = find_field(model, name)
        if target.primary_key and (not creating or isinstance(target, models.AutoField)):
            raise ToolError(
                f"{name!r} is the primary key of {collection.key}; it is set automatically."
                if creating
                else f"{name!r} is the primary key; pick items with `keys` instead of changing it."
            )
        if not target.editable:
            raise ToolError(f"{name!r} in {collection.key} is read-only.")


def _assign(obj: models.Model, values: dict[str, Any]) -> _Assignment:
    assignment = _Assignment()
    for name, value in values.items():
        target = find_field(type(obj), name)
        if target.many_to_many:
            pks = _convert_pks(
                related_model(target), value if value is not None else [], f"{name!r}"
            )
            _check_related_exist(target, pks)
            assignment.m2m.append((target, pks))
        else:
            setattr(obj, target.attname, value)
    return assignment


def _hidden_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.get_fields() if deny.is_hidden_field(model, f)]


def _clean(obj: models.Model) -> None:
    obj.full_clean(exclude=_hidden_names(type(obj)))
    for model_field in type(obj)._meta.concrete_fields:
        value = getattr(obj, model_field.attname)
        if isinstance(model_field, models.DateTimeField) and value and timezone.is_naive(value):
            setattr(obj, model_field.attname, timezone.make_aware(value))


def _validation_messages(error: ValidationError) -> dict[str, list[str]] | list[str]:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return error.messages


class _Invalid(Exception):
    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid")
        self.errors = errors


def _save_all(pairs: list[tuple[models.Model, dict[str, Any]]], verb: str) -> list[models.Model]:
    """Assign, validate and save every object; any invalid one rolls the whole call back and
    reports every invalid item at once."""
    errors: dict[str, Any] = {}
    saved = []
    try:
        with transaction.atomic():
            for index, (obj, values) in enumerate(pairs):
                where = f"item {index}" if obj._state.adding else f"key {obj.pk}"
                try:
                    assignment = _assign(obj, values)
                    if obj._state.adding and isinstance(obj, AbstractBaseUser):
                        obj.set_unusable_password()  # passwords are never set through tools
                    _clean(obj)
                except ValidationError as error:
                    errors[where] = _validation_messages(error)
                    continue
                if errors:
                    continue  # the call fails anyway; keep validating the rest
                obj.save()
                for m2m_field, pks in assignment.m2m:
                    getattr(obj, m2m_field.name).set(pks)
                saved.append(obj)
            if errors:
                raise _Invalid(errors)
    except _Invalid as invalid:
        raise ToolError(
            f"Nothing was {verb}: validation failed. Fix these values and try again.",
            errors=invalid.errors,
        ) from None
    except IntegrityError as error:
        raise ToolError(f"Nothing was {verb}: the database refused the change ({error}).") from None
    return saved


def create(collection: Collection, items: list[dict[str, Any]]) -> list[models.Model]:
    return _save_all([(collection.model(), values) for values in items], "created")


def update(
    collection: Collection, objects: list[models.Model], changes: list[dict[str, Any]]
) -> list[models.Model]:
    return _save_all(list(zip(objects, changes, strict=True)), "updated")


@dataclass(frozen=True)
class DeletePlan:
    objects: list[models.Model]
    also: dict[str, int]  # verbose name plural of a cascaded model → how many rows


def plan_delete(collection: Collection, objects: list[models.Model], user: User) -> DeletePlan:
    """What deleting these objects would take with it; refused (as in Django admin) when it
    would delete rows of an admin-registered model the user may not delete, or protected ones."""
    collector = NestedObjects(using=router.db_for_write(collection.model))
    collector.collect(objects)
    if collector.protected:
        names = sorted({f"{obj._meta.verbose_name} {obj.pk}" for obj in collector.protected})
        raise ToolError(
            "Nothing was deleted: other items depend on these and are protected: "
            + ", ".join(names[:10])
            + ("…" if len(names) > 10 else "")
            + "."
        )
    also: Counter[str] = Counter()
    # django-stubs keys NestedObjects.model_objs by str; Django keys it by the model class.
    model_objs = cast("dict[type[models.Model], set[models.Model]]", collector.model_objs)
    for model, instances in model_objs.items():
        if model is collection.model or model._meta.auto_created:
            continue
        opts = model._meta
        if admin.site.is_registered(model) and not user.has_perm(
            f"{opts.app_label}.delete_{opts.model_name}"
        ):
            raise PermissionDeniedError(
                f"deleting these items would also delete {len(instances)} "
                f"{opts.verbose_name_plural}, which you may not delete."
            )
        also[str(opts.verbose_name_plural)] += len(instances)
    return DeletePlan(objects, dict(also))


def delete(collection: Collection, plan: DeletePlan) -> dict[str, int]:
    with transaction.atomic():
        _, per_model = collection.model._default_manager.filter(
            pk__in=[obj.pk for obj in plan.objects]
        ).delete()
    return per_model
