"""Loading an object through its rule: 404 for what one may not see, 403 for a wrong role."""
from __future__ import annotations

from flask import abort

from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    Assignment,
    Exercise,
    Invitation,
    Pair,
    PairExercise,
    PairReply,
    Reflection,
    User,
)
from app.models.progress import Notification
from app.models.sessions import AgendaItem, NoteTemplate, SessionNote, TherapySession
from app.policy.base import is_therapist
from app.policy.clients import can_manage_invitation, can_view_client
from app.policy.homework import can_view_assignment, can_view_exercise, can_view_reflection
from app.policy.pairs import can_view_pair, can_view_pair_exercise, can_view_reply
from app.policy.records import can_open_notification
from app.policy.therapy_sessions import (
    can_manage_note_template,
    can_view_agenda_item,
    can_view_session,
    can_view_session_note,
)

# --- loading -------------------------------------------------------------------------------

_VISIBILITY = {
    User: can_view_client,
    Invitation: can_manage_invitation,
    Exercise: can_view_exercise,
    Assignment: can_view_assignment,
    Reflection: can_view_reflection,
    Pair: can_view_pair,
    PairExercise: can_view_pair_exercise,
    PairReply: can_view_reply,
    TherapySession: can_view_session,
    SessionNote: can_view_session_note,
    AgendaItem: can_view_agenda_item,
    NoteTemplate: can_manage_note_template,
    Notification: can_open_notification,
}


# Ids are INTEGER columns: PostgreSQL refuses a larger number in the query ("integer out of
# range", a 500), so such an id is simply not found.
MAX_ID = 2**31 - 1


def get_visible_or_404(model, object_id, user=None, options=()):
    """Load `model` by id if `user` (default: current_user) may see it, else abort with 404.
    `options` are loader options (e.g. joinedload) for what the page will show with it."""
    if user is None:
        from flask_login import current_user

        user = current_user
    rule = _VISIBILITY.get(model)
    if rule is None:
        raise LookupError(f"no visibility rule for {model.__name__}")
    obj = _get_or_404(model, object_id, options)
    if not rule(user, obj):
        abort(404)
    return obj


def _get_or_404(model, object_id, options=()):
    """The row with this id, or 404 for an id that is not one (text, zero, beyond the column)."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    obj = db.session.get(model, object_id, options=options) if 0 < object_id <= MAX_ID else None
    if obj is None:
        abort(404)
    return obj


_DELETION_OWNER = {
    Assignment: lambda user, task: task.therapist_id == user.id,
    Reflection: lambda user, reflection: (reflection.assignment.therapist_id == user.id
                                          and reflection.status == REFLECTION_SUBMITTED),
}


def get_for_deletion_or_404(model, object_id, user=None):
    """Delete and restore load through here: the therapist finds her own client's task or sent
    reflection whether or not it is deleted (so deleting or restoring twice can say so). Anyone
    else who may see it gets 403 (wrong role); everyone else 404."""
    if user is None:
        from flask_login import current_user

        user = current_user
    obj = _get_or_404(model, object_id)
    if is_therapist(user) and _DELETION_OWNER[model](user, obj):
        return obj
    abort(403 if _VISIBILITY[model](user, obj) else 404)
