"""THE access rules. No other module decides who may see or do what.

`can_<verb>_<thing>(user, obj) -> bool` answers one question; `visible_<things>(user)` returns a
query scope; `get_visible_or_404()` loads an object or answers 404 (never 403, so that nothing
reveals that another person's record exists).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    ROLE_CLIENT,
    TASK_CANCELLED,
    TASK_OPEN,
    Assignment,
    Exercise,
    Invitation,
    Reflection,
    User,
)


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


# --- the exercise library -------------------------------------------------------------------

def can_view_exercise(user, exercise: Exercise) -> bool:
    """Therapists see the built-in library and their own exercises; clients see tasks instead."""
    if not is_therapist(user) or exercise is None:
        return False
    return exercise.built_in or exercise.owner_id == user.id


def can_edit_exercise(user, exercise: Exercise) -> bool:
    """Built-in exercises are read-only; a therapist edits (and archives) only her own."""
    return is_therapist(user) and exercise is not None and not exercise.built_in \
        and exercise.owner_id == user.id


def can_duplicate_exercise(user, exercise: Exercise) -> bool:
    return can_view_exercise(user, exercise)


def visible_exercises(user) -> sa.Select:
    query = sa.select(Exercise)
    if is_therapist(user):
        return query.where(sa.or_(Exercise.built_in.is_(True), Exercise.owner_id == user.id))
    return query.where(sa.false())


# --- assignments (tasks) ---------------------------------------------------------------------

def can_assign_to(user, client: User) -> bool:
    """A therapist assigns exercises to her own clients whose accounts are open."""
    return (is_therapist(user) and client is not None and client.role == ROLE_CLIENT
            and client.therapist_id == user.id and client.is_active)


def can_view_assignment(user, assignment: Assignment) -> bool:
    """The client it was given to, and her therapist."""
    if not _signed_in(user) or assignment is None:
        return False
    if user.id == assignment.client_id:
        return True
    return is_therapist(user) and assignment.therapist_id == user.id


def can_manage_assignment(user, assignment: Assignment) -> bool:
    """Change the due date, cancel or reopen: the therapist who gave it."""
    return is_therapist(user) and assignment is not None and assignment.therapist_id == user.id


def can_change_due_date(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_OPEN


def can_cancel_assignment(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_OPEN


def can_reopen_assignment(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_CANCELLED


def can_write_reflection(user, assignment: Assignment) -> bool:
    """Only the client herself writes, and only while the task is open."""
    return (is_client(user) and assignment is not None and assignment.client_id == user.id
            and assignment.status == TASK_OPEN)


def visible_assignments(user) -> sa.Select:
    query = sa.select(Assignment)
    if is_therapist(user):
        return query.where(Assignment.therapist_id == user.id)
    if is_client(user):
        return query.where(Assignment.client_id == user.id)
    return query.where(sa.false())


# --- reflections -----------------------------------------------------------------------------

def can_view_reflection(user, reflection: Reflection) -> bool:
    """The author always; her therapist once it is submitted (drafts are the author's alone)."""
    if not _signed_in(user) or reflection is None:
        return False
    if user.id == reflection.author_id:
        return True
    return (is_therapist(user) and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED)


def can_review_reflection(user, reflection: Reflection) -> bool:
    """Feedback, private annotations and marking reviewed: the therapist of the task."""
    return (is_therapist(user) and reflection is not None
            and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED)


def can_view_private_annotations(user, reflection: Reflection) -> bool:
    """No client ever sees a private annotation."""
    return can_review_reflection(user, reflection)


def can_add_addendum(user, reflection: Reflection) -> bool:
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.status == REFLECTION_SUBMITTED)


def can_mark_urgent(user, reflection: Reflection) -> bool:
    return can_add_addendum(user, reflection)


def visible_reflections(user) -> sa.Select:
    query = sa.select(Reflection)
    if is_therapist(user):
        return query.join(Reflection.assignment).where(
            Assignment.therapist_id == user.id, Reflection.status == REFLECTION_SUBMITTED
        )
    if is_client(user):
        return query.where(Reflection.author_id == user.id)
    return query.where(sa.false())


# --- loading -------------------------------------------------------------------------------

_VISIBILITY = {
    User: can_view_client,
    Invitation: can_manage_invitation,
    Exercise: can_view_exercise,
    Assignment: can_view_assignment,
    Reflection: can_view_reflection,
}


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
    "can_edit_exercise": can_edit_exercise,
    "can_duplicate_exercise": can_duplicate_exercise,
    "can_assign_to": can_assign_to,
    "can_manage_assignment": can_manage_assignment,
    "can_change_due_date": can_change_due_date,
    "can_cancel_assignment": can_cancel_assignment,
    "can_reopen_assignment": can_reopen_assignment,
    "can_write_reflection": can_write_reflection,
    "can_review_reflection": can_review_reflection,
    "can_view_private_annotations": can_view_private_annotations,
    "can_add_addendum": can_add_addendum,
    "can_mark_urgent": can_mark_urgent,
    "can_view_client": can_view_client,
    "can_invite_clients": can_invite_clients,
    "can_manage_invitation": can_manage_invitation,
    "is_therapist": is_therapist,
    "is_client": is_client,
}
