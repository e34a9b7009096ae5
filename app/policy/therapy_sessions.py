"""Therapy sessions and their notes, comments and the agenda."""
from __future__ import annotations

import sqlalchemy as sa

from app.models import ROLE_CLIENT, Pair, PairMember, utcnow
from app.models.sessions import (
    NOTE_MEMBER,
    NOTE_SHARED,
    VISIBLE_TO_PAIR,
    AgendaItem,
    NoteDraft,
    NoteTemplate,
    SessionNote,
    TherapySession,
)
from app.policy.base import _signed_in, is_client, is_therapist

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


# --- sessions scheduled ahead (app/therapy_sessions/schedule.py) ------------------------------

def is_upcoming(session: TherapySession) -> bool:
    """A session whose start is still ahead (cancelled or not)."""
    return session is not None and session.starts_at > utcnow()


def can_schedule_session_for(user, client_or_pair) -> bool:
    """A therapist schedules sessions ahead with her own clients whose accounts are open, and
    with her own pairs while they are linked (an ended link or a closed account has no next
    session)."""
    return can_record_session_for(user, client_or_pair) and client_or_pair.is_active


def can_change_scheduled_session(user, session: TherapySession) -> bool:
    """Move or cancel: the therapist's own session that has not started and is not cancelled
    (a session held is recorded, never moved; a cancelled one stays listed as it was)."""
    return (can_edit_shared_note(user, session) and session.cancelled_at is None
            and is_upcoming(session))


def can_manage_calendar_feed(user) -> bool:
    """Her calendar subscription: every therapist has her own; clients have none."""
    return is_therapist(user)


def visible_sessions(user) -> sa.Select:
    query = sa.select(TherapySession)
    if is_therapist(user):
        return query.where(TherapySession.therapist_id == user.id)
    if is_client(user):
        return query.where(client_sees_session(user.id))
    return query.where(sa.false())


def client_sees_session(client_id) -> sa.ColumnElement[bool]:
    """The sessions a client sees: her own, and her pairs' whose link took effect (no member
    still waiting to accept). `client_id` is her id, or a bind parameter for a statement built
    once and run for each client."""
    pending = sa.select(PairMember.pair_id).where(PairMember.accepted_at.is_(None))
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client_id,
                                                   PairMember.pair_id.not_in(pending))
    return sa.or_(TherapySession.client_id == client_id, TherapySession.pair_id.in_(pair_ids))


def can_add_agenda_item(user) -> bool:
    return is_client(user)


def can_view_agenda_item(user, item: AgendaItem) -> bool:
    if not _signed_in(user) or item is None:
        return False
    return item.client_id == user.id or (is_therapist(user) and item.therapist_id == user.id)


def can_tick_agenda_item(user, item: AgendaItem) -> bool:
    return is_therapist(user) and item is not None and item.therapist_id == user.id


# --- notes being written: drafts, and clinical note templates -------------------------------

def can_write_session_note(user, session: TherapySession, kind: str, note: SessionNote | None = None) -> bool:
    """Who writes which note of a session (and so may keep a draft of it): the shared summary
    and the private clinical note are the therapist's; a member's own note is each member's.
    An edit of one member's note (`note`) is its author's alone: the rule its Save asks."""
    if note is not None:
        return (kind == "member" and session is not None and note.session_id == session.id
                and note.kind == NOTE_MEMBER and can_edit_session_note(user, note))
    if kind == "shared":
        return can_edit_shared_note(user, session)
    if kind == "clinical":
        return can_view_clinical_note(user, session)
    if kind == "member":
        return can_add_member_note(user, session)
    return False


def visible_note_drafts(user) -> sa.Select:
    """A note's draft is its author's alone: not her therapist's, not her pair's, nobody's."""
    query = sa.select(NoteDraft)
    if not _signed_in(user):
        return query.where(sa.false())
    return query.where(NoteDraft.author_id == user.id)


def can_manage_note_template(user, template: NoteTemplate) -> bool:
    """A therapist's own clinical note templates are hers alone to use, edit and archive."""
    return is_therapist(user) and template is not None and template.therapist_id == user.id


def visible_note_templates(user) -> sa.Select:
    query = sa.select(NoteTemplate)
    if is_therapist(user):
        return query.where(NoteTemplate.therapist_id == user.id)
    return query.where(sa.false())
