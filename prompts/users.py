"""The user the apps act for, as a type: `User` for a signed-in user, `AnyUser` for
`request.user` before the sign-in is checked, `SignedInRequest` for a view's request behind
the apps' access rules.

The apps take any AUTH_USER_MODEL that has Django's permissions (AbstractBaseUser with
PermissionsMixin, as AbstractUser has). They rely on `pk`, `is_active`, `is_authenticated`,
`is_superuser`, `get_username()` and `has_perm()`; anything else a custom model may leave out
(`get_full_name()`) is looked up with `hasattr()`, not assumed.

The names are django-stubs' own: its mypy plugin resolves `_User` to the project's
AUTH_USER_MODEL, the type a ForeignKey to settings.AUTH_USER_MODEL gives and `request.user`
has once AnonymousUser is ruled out, so a value typed `User` passes to the ORM without a cast.
They live in `prompts`, the lowest of the three apps (prompts ← ai_settings ← assistant), the
one module every app may import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from django.http import HttpRequest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from django.contrib.auth.models import _AnyUser, _User
    from django_htmx.middleware import HtmxDetails

    User: TypeAlias = _User
    AnyUser: TypeAlias = _AnyUser

    class SignedInRequest(HttpRequest):
        """A request that passed an access rule: its user is signed in. The apps' checks
        require django-htmx's middleware, which sets `htmx`."""

        user: User
        auser: Callable[[], Awaitable[User]]
        htmx: HtmxDetails

else:
    # Only annotations use these names, and annotations are not evaluated at run time
    # (`from __future__ import annotations`); the auth models themselves cannot be imported
    # here, before the app registry is ready.
    User = AnyUser = Any
    SignedInRequest = HttpRequest

__all__ = ["AnyUser", "SignedInRequest", "User"]
