"""Session services: record, write notes (versioned, with conflict detection), comment, agenda."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.core.clock import zone_for
from app.extensions import db
from app.models import (
    NOTE_MEMBER,
    NOTE_SHARED,
    VISIBLE_TO_PAIR,
    VISIBLE_TO_THERAPIST,
    AgendaItem,
    ClinicalNote,
    ClinicalNoteRevision,
    Pair,
    SessionComment,
    SessionNote,
    SessionNoteRevision,
    TherapySession,
    User,
    utcnow,
)
from app.notifications.services import notify
from app.therapy_sessions import note_drafts


class SessionError(Exception):
    """A refusal with a sentence the person can act on; nothing was changed."""


@dataclass
class Conflict(Exception):
    """Someone saved the note since this edit began: both texts, to merge by hand."""

    current_body: str
    current_version: int
    your_body: str
    # A clinical note on a template: her sections and their template, to merge field by field.
    your_template: str | None = None
    your_sections: list | None = None


def record_session(therapist: User, who: User | Pair, day: date, at: time,
                   duration_minutes: int | None, once_key: str | None = None) -> TherapySession:
    """Record a session held with a client or a pair, at a local date and time. The same form
    posted again (its one-time key) records nothing and returns the session it recorded."""
    if not policy.can_record_session_for(therapist, who):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "session_recorded"):
        return db.session.get(TherapySession, once.earlier(therapist, once_key)["id"])
    # The date and time are on the therapist's clock; they are stored as UTC.
    starts_at = datetime.combine(day, at, tzinfo=zone_for(therapist)).astimezone(timezone.utc)
    session = TherapySession(
        therapist_id=therapist.id, starts_at=starts_at,
        duration_minutes=duration_minutes,
        client_id=who.id if isinstance(who, User) else None,
        pair_id=who.id if isinstance(who, Pair) else None,
    )
    db.session.add(session)
    db.session.flush()
    audit.record(therapist, "session_recorded", who if isinstance(who, User) else None, session)
    once.remember(therapist, once_key, id=session.id)
    db.session.commit()
    return session


def session_people(session: TherapySession) -> list[User]:
    if session.client_id is not None:
        return [session.client]
    return [m.user for m in session.pair.members]


def open_session(user: User, session: TherapySession) -> dict:
    """Everything the session page shows this person (audited when she is not the client)."""
    if not policy.can_view_session(user, session):
        raise Forbidden()
    notes = [n for n in db.session.scalars(
        sa.select(SessionNote).where(SessionNote.session_id == session.id).order_by(SessionNote.id)
    ) if policy.can_view_session_note(user, n)]
    comments = list(db.session.scalars(
        sa.select(SessionComment).where(SessionComment.session_id == session.id)
        .options(selectinload(SessionComment.author)).order_by(SessionComment.created_at)
    ))
    if not policy.is_therapist(user):
        comments = [c for c in comments if c.author_id == user.id]
    clinical = None
    if policy.can_view_clinical_note(user, session):
        clinical = db.session.scalar(sa.select(ClinicalNote).where(ClinicalNote.session_id == session.id))
    # reads by anyone but the client herself are audited
    audit.record_reads(user, [(person, session) for person in session_people(session)], "read_session")
    return {
        "shared": next((n for n in notes if n.kind == NOTE_SHARED), None),
        "member_notes": [n for n in notes if n.kind == NOTE_MEMBER],
        "comments": comments,
        "clinical": clinical,
        "revisions": {n.id: policy.readable_note_revisions(user, n) for n in notes},
    }


def _save_versioned(note, body: str, base_version: int, extra: dict, revision) -> None:
    """Replace a note's text only if nobody saved since `base_version`; keep the old version."""
    if body == note.body and all(getattr(note, k) == v for k, v in extra.items()) \
            and base_version == note.version:
        return
    updated = db.session.execute(
        sa.update(type(note)).where(type(note).id == note.id, type(note).version == base_version)
        .values(body=body, version=base_version + 1, updated_at=utcnow(), **extra)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        db.session.rollback()
        db.session.refresh(note)
        raise Conflict(current_body=note.body, current_version=note.version, your_body=body,
                       your_template=extra.get("template_name"), your_sections=extra.get("sections"))
    db.session.add(revision)


def _lock_session(session: TherapySession) -> None:
    """Hold the session row until commit, so that two first saves of a note (both from
    version 0, when there is no row to compare versions on yet) run one after the other
    and the second one sees the first one's note. SQLite has no row locks: a no-op UPDATE
    takes the database's write lock instead."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.update(TherapySession).where(TherapySession.id == session.id)
                           .values(id=TherapySession.id).execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.select(TherapySession.id).where(TherapySession.id == session.id)
                           .with_for_update())


def save_shared_note(therapist: User, session: TherapySession, body: str, base_version: int,
                     draft_seen: str | None = None) -> SessionNote:
    """Write or edit the shared summary. A stale version raises Conflict; nothing is overwritten.
    Her draft of it that the page held (`draft_seen`) is settled in the same transaction."""
    if not policy.can_edit_shared_note(therapist, session):
        raise Forbidden()
    query = sa.select(SessionNote).where(SessionNote.session_id == session.id,
                                         SessionNote.kind == NOTE_SHARED)
    note = db.session.scalar(query)
    if note is None:
        _lock_session(session)
        note = db.session.scalar(query)  # written by a save that held the lock before us?
    if note is None:
        if base_version != 0:
            db.session.rollback()  # let go of the lock
            raise Conflict(current_body="", current_version=0, your_body=body)
        note = SessionNote(session_id=session.id, kind=NOTE_SHARED, author_id=therapist.id,
                           visibility="client", body=body, version=1)
        db.session.add(note)
    else:
        _save_versioned(note, body, base_version, {}, SessionNoteRevision(
            note_id=note.id, version=note.version, body=note.body, visibility=note.visibility,
            saved_at=note.updated_at, saved_by_id=note.author_id))
    note_drafts.settle(therapist, session, note_drafts.SHARED, draft_seen, body)
    audit.record(therapist, "shared_note_saved", None, session)
    db.session.commit()
    return note


def save_clinical_note(therapist: User, session: TherapySession, body: str, base_version: int,
                       template_name: str | None = None, sections: list | None = None,
                       draft_seen: str | None = None) -> ClinicalNote:
    """Write or edit the private clinical note (its history stays in its own table): free text,
    or on a template (its name and [[label, text], ...], with `body` the same words as one
    readable whole). Her draft of it that the page held is settled with it."""
    if not policy.can_view_clinical_note(therapist, session):
        raise Forbidden()
    query = sa.select(ClinicalNote).where(ClinicalNote.session_id == session.id)
    note = db.session.scalar(query)
    if note is None:
        _lock_session(session)
        note = db.session.scalar(query)  # written by a save that held the lock before us?
    if note is None:
        if base_version != 0:
            db.session.rollback()  # let go of the lock
            raise Conflict(current_body="", current_version=0, your_body=body,
                           your_template=template_name, your_sections=sections)
        note = ClinicalNote(session_id=session.id, therapist_id=therapist.id, body=body, version=1,
                            template_name=template_name, sections=sections)
        db.session.add(note)
    else:
        _save_versioned(note, body, base_version, {"template_name": template_name, "sections": sections},
                        ClinicalNoteRevision(note_id=note.id, version=note.version, body=note.body,
                                             template_name=note.template_name, sections=note.sections,
                                             saved_at=note.updated_at))
    note_drafts.settle(therapist, session, note_drafts.CLINICAL, draft_seen, body, sections)
    audit.record(therapist, "clinical_note_saved", None, session)
    db.session.commit()
    return note


def add_member_note(member: User, session: TherapySession, body: str, visibility: str,
                    once_key: str | None = None, draft_seen: str | None = None) -> SessionNote | None:
    """A pair member's own note: for the therapist only, or for the therapist and her partner
    (once per one-time key: the same form posted again adds nothing and returns None)."""
    if not policy.can_add_member_note(member, session):
        raise Forbidden()
    if visibility not in (VISIBLE_TO_THERAPIST, VISIBLE_TO_PAIR):
        raise SessionError("Choose who may read your note.")
    if not once.first_time(member, once_key, "member_note"):
        return None
    note = SessionNote(session_id=session.id, kind=NOTE_MEMBER, author_id=member.id,
                       visibility=visibility, body=body, version=1)
    db.session.add(note)
    db.session.flush()
    note_drafts.settle(member, session, note_drafts.MEMBER, draft_seen, body)
    audit.record(member, "member_note_added", member, note)
    db.session.commit()
    return note


def edit_member_note(member: User, note: SessionNote, body: str, visibility: str,
                     base_version: int, draft_seen: str | None = None) -> SessionNote:
    """Change her note or who may read it (her choice, changeable at any time). Her draft of
    this edit that the page held (`draft_seen`) is settled in the same transaction."""
    if note.kind != NOTE_MEMBER or not policy.can_edit_session_note(member, note):
        raise Forbidden()
    if visibility not in (VISIBLE_TO_THERAPIST, VISIBLE_TO_PAIR):
        raise SessionError("Choose who may read your note.")
    _save_versioned(note, body, base_version, {"visibility": visibility}, SessionNoteRevision(
        note_id=note.id, version=note.version, body=note.body, visibility=note.visibility,
        saved_at=note.updated_at, saved_by_id=member.id))
    note_drafts.settle(member, note.session, note_drafts.MEMBER, draft_seen, body, edited=note)
    audit.record(member, "member_note_edited", member, note)
    db.session.commit()
    return note


def add_comment(client: User, session: TherapySession, body: str,
                once_key: str | None = None) -> SessionComment | None:
    """A client's comment on the shared notes (once per one-time key, else None)."""
    if not policy.can_comment_on_session(client, session):
        raise Forbidden()
    if not once.first_time(client, once_key, "session_comment"):
        return None
    comment = SessionComment(session_id=session.id, author_id=client.id, body=body)
    db.session.add(comment)
    audit.record(client, "session_comment_added", client, session)
    db.session.commit()
    return comment


def add_agenda_item(client: User, body: str, once_key: str | None = None) -> AgendaItem | None:
    """Something she wants to bring up next time (any time, not tied to a session); once per
    one-time key, else None."""
    if not policy.can_add_agenda_item(client):
        raise Forbidden()
    if not once.first_time(client, once_key, "agenda_item"):
        return None
    item = AgendaItem(client_id=client.id, therapist_id=client.therapist_id, body=body)
    db.session.add(item)
    db.session.flush()
    audit.record(client, "agenda_item_added", client, item)
    notify(client.therapist, "agenda_item", f"/clients/{client.id}/prep")
    db.session.commit()
    return item


def tick_agenda_item(therapist: User, item: AgendaItem, done: bool = True) -> bool:
    """Tick an item off (or back on). False: it already was so, as stored now (a Save from another
    tab ticked it first): nothing written, no second audit row, its time kept."""
    if not policy.can_tick_agenda_item(therapist, item):
        raise Forbidden()
    was = AgendaItem.done_at.is_(None) if done else AgendaItem.done_at.is_not(None)
    if not db.session.execute(sa.update(AgendaItem).where(AgendaItem.id == item.id, was)
                              .values(done_at=utcnow() if done else None)
                              .execution_options(synchronize_session=False)).rowcount:
        db.session.rollback()
        return False
    db.session.expire(item, ["done_at"])
    audit.record(therapist, "agenda_item_ticked" if done else "agenda_item_reopened", item.client, item)
    db.session.commit()
    return True
