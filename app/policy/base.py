"""Who is signed in, and in which role: the parts every rule is built from."""
from __future__ import annotations

from flask import abort

from app.models import ROLE_CLIENT


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def is_therapist(user) -> bool:
    return _signed_in(user) and user.role == "therapist"


def is_client(user) -> bool:
    return _signed_in(user) and user.role == ROLE_CLIENT



def require_therapist(user) -> None:
    """A wrong role answers 403."""
    if not is_therapist(user):
        abort(403)


def require_client(user) -> None:
    if not is_client(user):
        abort(403)
