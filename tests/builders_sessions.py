"""Builders for sessions: pairs, sessions and notes made through the services, and helpers to
read session pages."""
from __future__ import annotations

import re
from datetime import datetime, time, timezone
from html import unescape

import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.models import AuditEvent, ClinicalNote, Pair, SessionNote, SessionNoteRevision, TherapySession, User
from app.therapy_sessions import services as session_services


def linked_pair(therapist: User, first: User, second: User) -> Pair:
    """Two clients linked with both members' consent."""
    from app.pairs.services import link_pair, respond

    pair = link_pair(therapist, first, "mother", second, "daughter")
    respond(first, pair, accept=True)
    respond(second, pair, accept=True)
    return pair


def record(therapist: User, who, starts_at: datetime | None = None,
           duration: int | None = 50) -> TherapySession:
    """A session through the service (today at 10:00 on her clock), optionally moved to
    `starts_at` (an aware datetime) afterwards. Before ten on her clock "today at 10:00" is
    still ahead: a test that needs a session held passes `starts_at` in the past."""
    session = session_services.record_session(therapist, who, today_for(therapist), time(10, 0),
                                              duration)
    if starts_at is not None:
        session.starts_at = starts_at.astimezone(timezone.utc)
        db.session.commit()
    return session


def shared_note(therapist: User, session: TherapySession, *bodies: str) -> SessionNote:
    """Write the shared summary, then edit it once per further body (each edit keeps the last)."""
    note = None
    for version, body in enumerate(bodies):
        note = session_services.save_shared_note(therapist, session, body, version)
    db.session.expire_all()
    return note


def clinical_note(therapist: User, session: TherapySession, *bodies: str) -> ClinicalNote:
    note = None
    for version, body in enumerate(bodies):
        note = session_services.save_clinical_note(therapist, session, body, version)
    db.session.expire_all()
    return note


def member_note(member: User, session: TherapySession, body: str, visibility: str,
                *edits: tuple[str, str]) -> SessionNote:
    """A pair member's note, then edits of (body, visibility)."""
    note = session_services.add_member_note(member, session, body, visibility)
    for body, visibility in edits:
        db.session.refresh(note)
        session_services.edit_member_note(member, note, body, visibility, note.version)
    db.session.expire_all()
    return db.session.get(SessionNote, note.id)


def shared_of(session_id: int) -> SessionNote | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(SessionNote).where(SessionNote.session_id == session_id,
                                                          SessionNote.kind == "shared"))


def clinical_of(session_id: int) -> ClinicalNote | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClinicalNote).where(ClinicalNote.session_id == session_id))


def revisions_of(note_id: int) -> list[tuple[int, str]]:
    db.session.expire_all()
    return [(r.version, r.body) for r in db.session.scalars(
        sa.select(SessionNoteRevision).where(SessionNoteRevision.note_id == note_id)
        .order_by(SessionNoteRevision.version))]


def audit_actions(actor: User, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.actor_id == actor.id, AuditEvent.action == action).order_by(AuditEvent.id)))


# --- reading pages ----------------------------------------------------------------------------

def hidden_value(html: str, name: str) -> str:
    """The value of the (first) input named `name`."""
    match = re.search(r'<input[^>]*\bname="%s"[^>]*>' % re.escape(name), html)
    assert match, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    assert value, f"input {name} has no value"
    return unescape(value.group(1))


def text_of(response) -> str:
    return response.get_data(as_text=True)
