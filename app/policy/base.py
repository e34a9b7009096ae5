"""Who is signed in, and in which role: the parts every rule is built from."""
from __future__ import annotations

from flask import abort

from app.models import ROLE_CLIENT


class Viewer:
    """A stand-in for the person a statement is built for once, at import: her role is known and
    her id is a bind parameter, so a scope (`visible_assignments(Viewer(ROLE_THERAPIST))`) gives
    the same rule as for a real person, as a statement run afterwards for everyone of that role
    with her id bound. Only for code that has already checked who is asking."""

    is_authenticated = True
    is_active = True

    def __init__(self, role: str, param: str = "viewer_id"):
        import sqlalchemy as sa

        self.role = role
        self.id = sa.bindparam(param)


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
