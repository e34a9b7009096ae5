"""THE access rules. No other module decides who may see or do what.

`can_<verb>_<thing>(user, obj) -> bool` answers one question; `visible_<things>(user)` returns a
query scope; `get_visible_or_404()` loads an object or answers 404 (never 403, so that nothing
reveals that another person's record exists).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from app.extensions import db
from app.models import ROLE_CLIENT, Invitation, User


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def is_therapist(user) -> bool:
    return _signed_in(user) and user.role == "therapist"


def is_client(user) -> bool:
    return _signed_in(user) and user.role == ROLE_CLIENT


# --- clients -------------------------------------------------------------------------------

def can_view_client(user, client: User) -> bool:
    """A client sees herself; a therapist sees her own clients."""
    if not _signed_in(user) or client is None or client.role != ROLE_CLIENT:
        return False
    if user.id == client.id:
        return True
    return is_therapist(user) and client.therapist_id == user.id


def visible_clients(user) -> sa.Select:
    """The clients this user may see, as a SELECT to filter, order or page further."""
    query = sa.select(User).where(User.role == ROLE_CLIENT)
    if is_therapist(user):
        return query.where(User.therapist_id == user.id)
    if is_client(user):
        return query.where(User.id == user.id)
    return query.where(sa.false())


# --- invitations ---------------------------------------------------------------------------

def can_invite_clients(user) -> bool:
    return is_therapist(user)


def can_manage_invitation(user, invitation: Invitation) -> bool:
    """Only the therapist who sent an invitation may see, copy, resend or revoke it."""
    return is_therapist(user) and invitation is not None and invitation.therapist_id == user.id


def visible_invitations(user) -> sa.Select:
    query = sa.select(Invitation)
    if is_therapist(user):
        return query.where(Invitation.therapist_id == user.id)
    return query.where(sa.false())


# --- loading -------------------------------------------------------------------------------

_VISIBILITY = {
    User: can_view_client,
    Invitation: can_manage_invitation,
}


def register_visibility(model, rule) -> None:
    """Feature modules add their model's read rule here, so get_visible_or_404 knows it."""
    _VISIBILITY[model] = rule


def get_visible_or_404(model, object_id, user=None):
    """Load `model` by id if `user` (default: current_user) may see it, else abort with 404."""
    if user is None:
        from flask_login import current_user

        user = current_user
    rule = _VISIBILITY.get(model)
    if rule is None:
        raise LookupError(f"no visibility rule for {model.__name__}")
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    if not (0 < object_id < 2**63):
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or not rule(user, obj):
        abort(404)
    return obj


def require_therapist(user) -> None:
    """A wrong role answers 403."""
    if not is_therapist(user):
        abort(403)


def require_client(user) -> None:
    if not is_client(user):
        abort(403)


JINJA_GLOBALS = {
    "can_view_client": can_view_client,
    "can_invite_clients": can_invite_clients,
    "can_manage_invitation": can_manage_invitation,
    "is_therapist": is_therapist,
    "is_client": is_client,
}
