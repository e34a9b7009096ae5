"""THE access rules. No other module decides who may see or do what.

`can_<verb>_<thing>(user, obj) -> bool` answers one question; `visible_<things>(user)` returns a
query scope; `get_visible_or_404()` loads an object or answers 404 (never 403, so that nothing
reveals that another person's record exists).
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, g, has_request_context, request
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    DELETED_DAYS,
    REFLECTION_SUBMITTED,
    ROLE_CLIENT,
    SHARING_NEVER,
    TASK_CANCELLED,
    TASK_OPEN,
    Assignment,
    Exercise,
    Invitation,
    Pair,
    PairMember,
    Reflection,
    User,
    utcnow,
)
from app.models.progress import Notification
from app.models.sessions import (
    NOTE_SHARED,
    VISIBLE_TO_PAIR,
    AgendaItem,
    SessionNote,
    TherapySession,
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


def can_export_psychotherapy_notes(user, client: User) -> bool:
    """Psychotherapy notes (clinical notes, private annotations) are kept apart from the record:
    only her own therapist may add them to an export, and only when she chooses to. A client's
    own export never holds them."""
    return is_therapist(user) and can_view_client(user, client)


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
    if not _signed_in(user) or assignment is None or assignment.deleted_at is not None:
        return False  # a deleted task is gone for everyone (its therapist restores it elsewhere)
    if user.id == assignment.client_id:
        return True
    return is_therapist(user) and assignment.therapist_id == user.id


def can_manage_assignment(user, assignment: Assignment) -> bool:
    """Change the due date, cancel or reopen: the therapist who gave it."""
    return (is_therapist(user) and assignment is not None and assignment.therapist_id == user.id
            and assignment.deleted_at is None)


def can_change_due_date(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_OPEN


def can_cancel_assignment(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_OPEN


def can_reopen_assignment(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_CANCELLED


def can_write_reflection(user, assignment: Assignment) -> bool:
    """Only the client herself writes, and only while the task is open."""
    return (is_client(user) and assignment is not None and assignment.client_id == user.id
            and assignment.status == TASK_OPEN and assignment.deleted_at is None)


def visible_assignments(user) -> sa.Select:
    query = sa.select(Assignment).where(Assignment.deleted_at.is_(None))
    if is_therapist(user):
        return query.where(Assignment.therapist_id == user.id)
    if is_client(user):
        return query.where(Assignment.client_id == user.id)
    return query.where(sa.false())


def _restorable(deleted_at, now=None) -> bool:
    """Still within the days a deleted task or reflection can be restored."""
    return deleted_at is not None and (now or utcnow()) < deleted_at + timedelta(days=DELETED_DAYS)


def restorable_until(obj):
    """When a deleted task or reflection stops being restorable (and may be purged)."""
    return obj.deleted_at + timedelta(days=DELETED_DAYS) if obj.deleted_at is not None else None


def can_delete_task(user, assignment: Assignment) -> bool:
    """The therapist who gave it, while it is not deleted; clients and partners never."""
    return can_manage_assignment(user, assignment)


def can_restore_task(user, assignment: Assignment) -> bool:
    """Her own deleted task, within DELETED_DAYS of its deletion."""
    return (is_therapist(user) and assignment is not None and assignment.therapist_id == user.id
            and _restorable(assignment.deleted_at))


def is_own_task(user, assignment: Assignment) -> bool:
    """The task was given to this client (whatever its status: the services say what is open)."""
    return is_client(user) and assignment is not None and assignment.client_id == user.id


# --- reflections -----------------------------------------------------------------------------

def is_author(user, reflection: Reflection) -> bool:
    """She wrote it: the only person who may share, withdraw, add to or flag it."""
    return _signed_in(user) and reflection is not None and reflection.author_id == user.id

def can_view_reflection(user, reflection: Reflection) -> bool:
    """The author always; her therapist once it is submitted (drafts are the author's alone);
    her pair partner when she chose to share it (see partner_can_read)."""
    if not _signed_in(user) or reflection is None or reflection.deleted_at is not None:
        return False  # deleted (alone or with its task): gone for everyone
    if user.id == reflection.author_id:
        return True
    if (is_therapist(user) and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED):
        return True
    return partner_can_read(user, reflection)


def can_review_reflection(user, reflection: Reflection) -> bool:
    """Feedback, private annotations and marking reviewed: the therapist of the task."""
    return (is_therapist(user) and reflection is not None and reflection.deleted_at is None
            and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED)


def can_view_private_annotations(user, reflection: Reflection) -> bool:
    """No client ever sees a private annotation."""
    return can_review_reflection(user, reflection)


def can_add_addendum(user, reflection: Reflection) -> bool:
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.status == REFLECTION_SUBMITTED and reflection.deleted_at is None)


def can_mark_urgent(user, reflection: Reflection) -> bool:
    return can_add_addendum(user, reflection)


def can_delete_reflection(user, reflection: Reflection) -> bool:
    """The therapist of the task deletes a sent reflection (with its feedback and annotations)."""
    return can_review_reflection(user, reflection) and reflection.assignment.deleted_at is None


def can_restore_reflection(user, reflection: Reflection) -> bool:
    """Her own client's deleted reflection, within DELETED_DAYS, while its task is not deleted
    (a reflection deleted with its task comes back when the task is restored)."""
    return (is_therapist(user) and reflection is not None
            and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED
            and reflection.assignment.deleted_at is None and _restorable(reflection.deleted_at))


def visible_reflections(user) -> sa.Select:
    query = sa.select(Reflection).where(Reflection.deleted_at.is_(None))
    if is_therapist(user):
        return query.join(Reflection.assignment).where(
            Assignment.therapist_id == user.id, Reflection.status == REFLECTION_SUBMITTED
        )
    if is_client(user):
        return query.where(Reflection.author_id == user.id)
    return query.where(sa.false())


# --- pairs ---------------------------------------------------------------------------------

def active_pair_of(user) -> Pair | None:
    """The linked pair (both accepted, not ended) this client belongs to, if any."""
    if not is_client(user):
        return None
    pair = open_pair_of(user)
    return pair if pair is not None and pair.is_active else None


def _linked_partners(user_a_id: int, user_b_id: int) -> Pair | None:
    """The active pair that links these two people, or None."""
    if user_a_id == user_b_id:
        return None
    pair = _open_pair_of_id(user_a_id)
    if pair is None or not pair.is_active or pair.member_for(user_b_id) is None:
        return None
    return pair


def can_link_pair(user, first: User, second: User) -> bool:
    """A therapist links two of her own (different, open) clients who are in no other pair."""
    if not (is_therapist(user) and first is not None and second is not None and first.id != second.id):
        return False
    for client in (first, second):
        if not can_assign_to(user, client) or open_pair_of(client) is not None:
            return False
    return True


def open_pair_of(client: User) -> Pair | None:
    """A pair this client belongs to that has not ended (pending or active)."""
    return _open_pair_of_id(client.id)


def _open_pair_of_id(user_id: int) -> Pair | None:
    """The pair with its members and their accounts, in one query. A page asks this several
    times (the page, its policy checks, its template): a GET asks the database once. Anything
    that changes data (POST) asks afresh every time."""
    cache = None
    if has_request_context() and request.method in ("GET", "HEAD"):
        cache = g.setdefault("_open_pair_of", {})
        if user_id in cache:
            return cache[user_id]
    pair = db.session.scalars(
        sa.select(Pair).join(PairMember).where(PairMember.user_id == user_id, Pair.ended_at.is_(None))
        .options(joinedload(Pair.members).joinedload(PairMember.user))
    ).unique().first()
    if cache is not None:
        cache[user_id] = pair
    return pair


def can_view_pair(user, pair: Pair) -> bool:
    """Her therapist, and each member (to accept, see her partner's name, or leave)."""
    if not _signed_in(user) or pair is None:
        return False
    if is_therapist(user):
        return pair.therapist_id == user.id
    return pair.member_for(user.id) is not None


def can_respond_to_pair(user, pair: Pair) -> bool:
    """A member accepts or declines while the pair waits for her."""
    member = pair.member_for(user.id) if pair is not None and is_client(user) else None
    return member is not None and member.accepted_at is None and pair.ended_at is None


def can_leave_pair(user, pair: Pair) -> bool:
    """Either member can leave at any time."""
    return (is_client(user) and pair is not None and pair.ended_at is None
            and pair.member_for(user.id) is not None)


def can_dissolve_pair(user, pair: Pair) -> bool:
    return is_therapist(user) and pair is not None and pair.therapist_id == user.id \
        and pair.ended_at is None


def can_assign_to_pair(user, pair: Pair) -> bool:
    return can_dissolve_pair(user, pair) and pair.is_active and all(
        m.user.is_active for m in pair.members)


def can_share_reflection(user, reflection: Reflection) -> bool:
    """The author shares a sent reflection of a shareable family while she is in a linked pair."""
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.status == REFLECTION_SUBMITTED and reflection.deleted_at is None
            and reflection.assignment.sharing != SHARING_NEVER
            and reflection.shared_at is None and active_pair_of(user) is not None)


def can_withdraw_share(user, reflection: Reflection) -> bool:
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.shared_at is not None)


def reveal_waiting(reflection: Reflection) -> bool:
    """On a reveal-together pair exercise, True until both members have sent theirs."""
    pair_exercise = reflection.assignment.pair_exercise
    if pair_exercise is None or not pair_exercise.reveal_together:
        return False
    for task in pair_exercise.tasks:
        if task.reflection is None or task.reflection.status != REFLECTION_SUBMITTED:
            return True
    return False


def _shared_with_reader(user, reflection: Reflection) -> bool:
    """The reflection was sent, is of a shareable family, and its author shares it now with
    this reader, her linked pair member (a share from before this link never counts)."""
    if not is_client(user) or reflection is None or user.id == reflection.author_id:
        return False
    if (reflection.status != REFLECTION_SUBMITTED or reflection.shared_at is None
            or reflection.deleted_at is not None
            or reflection.assignment.sharing == SHARING_NEVER):
        return False
    pair = _linked_partners(user.id, reflection.author_id)
    return pair is not None and reflection.shared_at >= pair.linked_since


def partner_can_read(user, reflection: Reflection) -> bool:
    """Her linked partner reads a reflection only if it was sent, is of a shareable family,
    is shared now, and (reveal together) both have sent theirs. Never once the pair ended."""
    return _shared_with_reader(user, reflection) and not reveal_waiting(reflection)


def reveal_waits_for_reader(user, reflection: Reflection) -> bool:
    """Shared with her, on a reveal-together exercise that waits only for her own reflection:
    it is her turn ("send yours to read it")."""
    return _shared_with_reader(user, reflection) and reveal_waiting(reflection)


def shared_with(user) -> sa.Select:
    """Reflections her linked partner shares with her (reveal-together ones still filtered by
    partner_can_read before showing)."""
    pair = active_pair_of(user)
    if pair is None or not pair.is_active:
        return sa.select(Reflection).where(sa.false())
    partner = pair.partner_of(user.id)
    return (sa.select(Reflection).join(Reflection.assignment)
            .where(Reflection.author_id == partner.user_id,
                   Reflection.status == REFLECTION_SUBMITTED, Reflection.deleted_at.is_(None),
                   Reflection.shared_at.is_not(None),
                   Reflection.shared_at >= pair.linked_since,
                   Assignment.sharing != SHARING_NEVER))


def visible_pairs(user) -> sa.Select:
    query = sa.select(Pair)
    if is_therapist(user):
        return query.where(Pair.therapist_id == user.id)
    if is_client(user):
        return query.join(PairMember).where(PairMember.user_id == user.id)
    return query.where(sa.false())


# --- sessions and their notes ---------------------------------------------------------------

def can_record_session_for(user, client_or_pair) -> bool:
    """A therapist records sessions with her own clients and her own (linked or once linked) pairs."""
    if isinstance(client_or_pair, Pair):  # only a pair whose link took effect (both consented)
        return (is_therapist(user) and client_or_pair.therapist_id == user.id
                and client_or_pair.linked_since is not None)
    return is_therapist(user) and client_or_pair is not None and \
        client_or_pair.role == ROLE_CLIENT and client_or_pair.therapist_id == user.id


def _session_member(user, session: TherapySession) -> bool:
    """The client herself, or a member of a pair whose link took effect (both accepted)."""
    if session.client_id is not None:
        return session.client_id == user.id
    pair = session.pair
    return pair is not None and pair.linked_since is not None and pair.member_for(user.id) is not None


def can_view_session(user, session: TherapySession) -> bool:
    """Her therapist; the client it was held with; each member of the pair it was held with."""
    if not _signed_in(user) or session is None:
        return False
    if is_therapist(user):
        return session.therapist_id == user.id
    return _session_member(user, session)


def can_edit_shared_note(user, session: TherapySession) -> bool:
    return is_therapist(user) and session is not None and session.therapist_id == user.id


def can_view_clinical_note(user, session: TherapySession) -> bool:
    """The therapist's private clinical note: never any client, whatever else she may see."""
    return can_edit_shared_note(user, session)


def can_comment_on_session(user, session: TherapySession) -> bool:
    return is_client(user) and session is not None and _session_member(user, session)


def can_add_member_note(user, session: TherapySession) -> bool:
    """On a pair session, each member may add a note of her own."""
    return can_comment_on_session(user, session) and session.pair_id is not None


def can_view_session_note(user, note: SessionNote) -> bool:
    """Shared summaries: everyone who may see the session. A member's note: its author, the
    therapist, and the partner only while the author chooses 'pair' and the pair is linked."""
    if note is None or not can_view_session(user, note.session):
        return False
    if note.kind == NOTE_SHARED or is_therapist(user) or note.author_id == user.id:
        return True
    pair = note.session.pair
    return (note.visibility == VISIBLE_TO_PAIR and pair is not None and pair.is_active
            and pair.member_for(user.id) is not None and pair.member_for(note.author_id) is not None)


def readable_note_revisions(user, note: SessionNote) -> list:
    """Earlier versions of a note this person may read. The therapist and the author read them
    all; the partner only those the author had opened to her (a version written for the
    therapist alone stays so, even after the author opens a later version to her partner)."""
    if not can_view_session_note(user, note):
        return []
    if note.kind == NOTE_SHARED or is_therapist(user) or note.author_id == user.id:
        return list(note.revisions)
    return [r for r in note.revisions if r.visibility == VISIBLE_TO_PAIR]


def can_edit_session_note(user, note: SessionNote) -> bool:
    if note is None or not can_view_session(user, note.session):
        return False
    if note.kind == NOTE_SHARED:
        return can_edit_shared_note(user, note.session)
    return note.author_id == user.id


def visible_sessions(user) -> sa.Select:
    query = sa.select(TherapySession)
    if is_therapist(user):
        return query.where(TherapySession.therapist_id == user.id)
    if is_client(user):
        # Pairs she is in whose link took effect: no member still waiting to accept.
        pending = sa.select(PairMember.pair_id).where(PairMember.accepted_at.is_(None))
        pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == user.id,
                                                       PairMember.pair_id.not_in(pending))
        return query.where(sa.or_(TherapySession.client_id == user.id,
                                  TherapySession.pair_id.in_(pair_ids)))
    return query.where(sa.false())


def can_add_agenda_item(user) -> bool:
    return is_client(user)


def can_view_agenda_item(user, item: AgendaItem) -> bool:
    if not _signed_in(user) or item is None:
        return False
    return item.client_id == user.id or (is_therapist(user) and item.therapist_id == user.id)


def can_tick_agenda_item(user, item: AgendaItem) -> bool:
    return is_therapist(user) and item is not None and item.therapist_id == user.id


# --- the audit trail ------------------------------------------------------------------------

def can_view_audit_of(user, client: User) -> bool:
    """A client's audit trail: her own therapist only (a client sees her activity page instead)."""
    return is_therapist(user) and can_view_client(user, client)


def can_view_own_activity(user) -> bool:
    """Who read her record and when: every client, about herself."""
    return is_client(user)


# --- notifications ---------------------------------------------------------------------------

def can_open_notification(user, note) -> bool:
    """A notification is its recipient's alone."""
    return _signed_in(user) and note is not None and note.user_id == user.id


# --- loading -------------------------------------------------------------------------------

_VISIBILITY = {
    User: can_view_client,
    Invitation: can_manage_invitation,
    Exercise: can_view_exercise,
    Assignment: can_view_assignment,
    Reflection: can_view_reflection,
    Pair: can_view_pair,
    TherapySession: can_view_session,
    SessionNote: can_view_session_note,
    AgendaItem: can_view_agenda_item,
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


def require_therapist(user) -> None:
    """A wrong role answers 403."""
    if not is_therapist(user):
        abort(403)


def require_client(user) -> None:
    if not is_client(user):
        abort(403)


JINJA_GLOBALS = {
    "can_record_session_for": can_record_session_for,
    "can_edit_shared_note": can_edit_shared_note,
    "can_view_clinical_note": can_view_clinical_note,
    "can_comment_on_session": can_comment_on_session,
    "can_add_member_note": can_add_member_note,
    "can_view_session_note": can_view_session_note,
    "can_edit_session_note": can_edit_session_note,
    "can_tick_agenda_item": can_tick_agenda_item,
    "can_view_pair": can_view_pair,
    "can_respond_to_pair": can_respond_to_pair,
    "can_leave_pair": can_leave_pair,
    "can_dissolve_pair": can_dissolve_pair,
    "can_assign_to_pair": can_assign_to_pair,
    "can_share_reflection": can_share_reflection,
    "can_withdraw_share": can_withdraw_share,
    "partner_can_read": partner_can_read,
    "reveal_waits_for_reader": reveal_waits_for_reader,
    "reveal_waiting": reveal_waiting,
    "can_edit_exercise": can_edit_exercise,
    "can_duplicate_exercise": can_duplicate_exercise,
    "can_assign_to": can_assign_to,
    "can_manage_assignment": can_manage_assignment,
    "can_change_due_date": can_change_due_date,
    "can_cancel_assignment": can_cancel_assignment,
    "can_reopen_assignment": can_reopen_assignment,
    "can_delete_task": can_delete_task,
    "can_restore_task": can_restore_task,
    "can_delete_reflection": can_delete_reflection,
    "can_restore_reflection": can_restore_reflection,
    "restorable_until": restorable_until,
    "can_write_reflection": can_write_reflection,
    "can_review_reflection": can_review_reflection,
    "can_view_private_annotations": can_view_private_annotations,
    "can_add_addendum": can_add_addendum,
    "can_mark_urgent": can_mark_urgent,
    "can_view_client": can_view_client,
    "can_export_psychotherapy_notes": can_export_psychotherapy_notes,
    "can_view_audit_of": can_view_audit_of,
    "can_view_own_activity": can_view_own_activity,
    "can_invite_clients": can_invite_clients,
    "can_manage_invitation": can_manage_invitation,
    "is_therapist": is_therapist,
    "is_client": is_client,
}
