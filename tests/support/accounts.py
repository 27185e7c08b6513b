"""Accounts for the tests: the one password, groups by name (App users with its permission),
users with exact groups and permissions."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

PASSWORD = "correct horse battery staple"


def group_named(name: str) -> Group:
    group, created = Group.objects.get_or_create(name=name)
    if created and name == "App users":
        # A transactional test's flush removed the group that migration 0002 created.
        group.permissions.add(
            Permission.objects.get(content_type__app_label="assistant", codename="app_access")
        )
    return group


def create_user(django_user_model, username: str, *, groups=(), perms=(), **flags):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, **flags)
    for name in groups:
        user.groups.add(group_named(name))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user
