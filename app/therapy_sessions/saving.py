"""The therapist's one Save on a session page: every note she changed and every agenda item she
ticked, so that saving one part never throws away another she was still typing."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import policy
from app.extensions import db
from app.models import NOTE_SHARED, AgendaItem, ClinicalNote, SessionNote, TherapySession, User
from app.therapy_sessions import note_drafts, services

KINDS = {"shared notes": note_drafts.SHARED, "private clinical note": note_drafts.CLINICAL}


@dataclass
class NoteEdit:
    """What the page sent for one note: the text, the version the edit began from, the draft
    the page held, and (a clinical note on a template) the template's name and the sections.
    `changed` is False when the text is the stored one: nothing to save, her draft to settle."""

    body: str
    base_version: int
    template_name: str | None = None
    sections: list | None = None
    draft_seen: str | None = None
    changed: bool = True


@dataclass
class PageSaved:
    """What one Save did: the parts saved, and the notes someone else had saved meanwhile."""

    saved: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, services.Conflict]] = field(default_factory=list)


def current_texts(therapist: User, session: TherapySession) -> dict[str, tuple]:
    """What the shared and the clinical note hold now, as (body, template name, sections)
    (('', None, None) when not written yet)."""
    if not policy.can_edit_shared_note(therapist, session):
        raise Forbidden()
    shared = db.session.scalar(sa.select(SessionNote.body).where(
        SessionNote.session_id == session.id, SessionNote.kind == NOTE_SHARED))
    clinical = None
    if policy.can_view_clinical_note(therapist, session):
        clinical = db.session.execute(sa.select(ClinicalNote.body, ClinicalNote.template_name,
                                                ClinicalNote.sections).where(
            ClinicalNote.session_id == session.id)).first()
    return {"shared": (shared or "", None, None),
            "clinical": (clinical[0], clinical[1], clinical[2] or None) if clinical else ("", None, None)}


def save_session_page(therapist: User, session: TherapySession, *, shared: NoteEdit | None,
                      clinical: NoteEdit | None, ticked_ids: list[str]) -> PageSaved:
    """Save each part she changed (a note whose text differs from the stored one, an agenda item
    she ticked). A note saved by someone else meanwhile is reported, never overwritten, and does
    not stop the other parts from being saved."""
    if not policy.can_edit_shared_note(therapist, session):
        raise Forbidden()
    result = PageSaved()
    for kind, edit in (("shared notes", shared), ("private clinical note", clinical)):
        if edit is None:
            continue
        if not edit.changed:  # left as stored: only her draft the page held is settled
            note_drafts.settle(therapist, session, KINDS[kind], edit.draft_seen, edit.body, edit.sections)
            db.session.commit()
            continue
        try:
            if kind == "shared notes":
                services.save_shared_note(therapist, session, edit.body, edit.base_version, edit.draft_seen)
            else:
                services.save_clinical_note(therapist, session, edit.body, edit.base_version,
                                            edit.template_name, edit.sections, edit.draft_seen)
        except services.Conflict as conflict:
            result.conflicts.append((kind, conflict))
        else:
            result.saved.append(kind)
    ids = {int(i) for i in ticked_ids if i.isascii() and i.isdigit() and 0 < int(i) <= policy.MAX_ID}
    items = db.session.scalars(sa.select(AgendaItem).where(AgendaItem.id.in_(ids))).all() if ids else []
    for item in items:  # an id that is not one of hers is passed over, like an unticked box
        if policy.can_tick_agenda_item(therapist, item) and item.done_at is None \
                and services.tick_agenda_item(therapist, item):  # not if ticked meanwhile
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
