"""The therapist's one Save on a session page: every note she changed and every agenda item she
ticked, so that saving one part never throws away another she was still typing."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import policy
from app.extensions import db
from app.models import NOTE_SHARED, AgendaItem, ClinicalNote, SessionNote, TherapySession, User
from app.therapy_sessions import services


@dataclass
class NoteEdit:
    """What the page sent for one note: the text and the version the edit began from."""

    body: str
    base_version: int


@dataclass
class PageSaved:
    """What one Save did: the parts saved, and the notes someone else had saved meanwhile."""

    saved: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, services.Conflict]] = field(default_factory=list)


def current_texts(therapist: User, session: TherapySession) -> dict[str, str]:
    """The stored text of the shared and the clinical note ('' when not written yet)."""
    if not policy.can_edit_shared_note(therapist, session):
        raise Forbidden()
    shared = db.session.scalar(sa.select(SessionNote.body).where(
        SessionNote.session_id == session.id, SessionNote.kind == NOTE_SHARED))
    clinical = None
    if policy.can_view_clinical_note(therapist, session):
        clinical = db.session.scalar(sa.select(ClinicalNote.body).where(
            ClinicalNote.session_id == session.id))
    return {"shared": shared or "", "clinical": clinical or ""}


def save_session_page(therapist: User, session: TherapySession, *, shared: NoteEdit | None,
                      clinical: NoteEdit | None, ticked_ids: list[str]) -> PageSaved:
    """Save each part she changed (a note whose text differs from the stored one, an agenda item
    she ticked). A note saved by someone else meanwhile is reported, never overwritten, and does
    not stop the other parts from being saved."""
    if not policy.can_edit_shared_note(therapist, session):
        raise Forbidden()
    result = PageSaved()
    for kind, edit, save in (("shared notes", shared, services.save_shared_note),
                             ("private clinical note", clinical, services.save_clinical_note)):
        if edit is None:
            continue
        try:
            save(therapist, session, edit.body, edit.base_version)
        except services.Conflict as conflict:
            result.conflicts.append((kind, conflict))
        else:
            result.saved.append(kind)
    ids = {int(i) for i in ticked_ids if i.isascii() and i.isdigit() and 0 < int(i) <= policy.MAX_ID}
    items = db.session.scalars(sa.select(AgendaItem).where(AgendaItem.id.in_(ids))).all() if ids else []
    for item in items:  # an id that is not one of hers is passed over, like an unticked box
        if policy.can_tick_agenda_item(therapist, item) and item.done_at is None:
            services.tick_agenda_item(therapist, item)
            result.saved.append("agenda")
    return result


def saved_sentence(result: PageSaved) -> str:
    """What one Save did, in a sentence ("Saved: the shared notes and 2 agenda items ticked off.")."""
    if not result.saved:
        return "Nothing had changed, so there was nothing to save."
    ticked = result.saved.count("agenda")
    parts = [f"the {kind}" for kind in result.saved if kind != "agenda"]
    if ticked:
        parts.append(f"{ticked} agenda item{'s' if ticked > 1 else ''} ticked off")
    return "Saved: " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + "."
