"""Session notes that save themselves: words typed into the shared note, the private clinical
note or a member's note are kept as a NoteDraft while she writes. A draft is read by nobody but
its author (a half-written shared note never reaches the client), writes no audit row and no
notice, and is never in an export. Saving the note makes it a new version and settles the draft.

Versions: `base_version` is the note's version her text began from (0: no note yet); a draft
begun from a version someone has saved over since is still kept, marked stale, and saving it
gives the conflict page (both texts). The draft's own version is its `updated_at`, to the
microsecond, which the page sends back with each autosave: a draft changed in another tab or on
another device meanwhile is never overwritten (409), unless the text is the same (a save sent
again after its answer was lost is a success: one-time, idempotent).

A member keeps one draft per note: of her new note (note_id 0) and of each edit of a note of
hers (that note's id), with the readers she chose; a clinical draft keeps its template's name."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Forbidden

from app import policy
from app.extensions import db
from app.models import (
    NOTE_DRAFT_KINDS,
    NOTE_SHARED,
    ClinicalNote,
    NoteDraft,
    PairMember,
    SessionNote,
    TherapySession,
    User,
    utcnow,
)

SHARED, CLINICAL, MEMBER = NOTE_DRAFT_KINDS


class DraftRefused(Exception):
    """Not kept: the draft changed elsewhere, or the note was saved over since her text began.
    `reason` is "draft" or "note"; nothing was changed."""

    def __init__(self, reason: str, message: str, saved_at: datetime | None = None):
        super().__init__(message)
        self.reason = reason
        self.saved_at = saved_at


@dataclass
class StoredNote:
    """The note a draft is written against, as stored now (version 0: not written yet)."""

    version: int
    body: str
    template_name: str | None
    sections: list | None
    updated_at: datetime | None
    visibility: str | None = None  # a member's note: who she chose should read it


def version_of(draft: NoteDraft | None) -> str:
    """The draft's version as the page holds it ('' for no draft)."""
    return "" if draft is None else draft.updated_at.isoformat()


def _same_version(draft: NoteDraft, seen: str | None) -> bool:
    try:
        return bool(seen) and datetime.fromisoformat(seen) == draft.updated_at
    except (TypeError, ValueError):
        return False


def stored_note(session: TherapySession, kind: str, edited: SessionNote | None = None) -> StoredNote:
    """The note a draft is written against as stored: the shared or clinical note, the member's
    note she edits (`edited`), or nothing yet (a member's new note)."""
    note = None
    if edited is not None:
        db.session.refresh(edited)  # as stored now, not as this request first loaded it
        return StoredNote(edited.version, edited.body, None, None, edited.updated_at, edited.visibility)
    if kind == SHARED:
        note = db.session.scalar(sa.select(SessionNote).where(
            SessionNote.session_id == session.id, SessionNote.kind == NOTE_SHARED))
    elif kind == CLINICAL:
        note = db.session.scalar(sa.select(ClinicalNote).where(ClinicalNote.session_id == session.id))
    if note is None:
        return StoredNote(0, "", None, None, None)
    return StoredNote(note.version, note.body, getattr(note, "template_name", None),
                      getattr(note, "sections", None), note.updated_at)


def draft_of(author: User, session: TherapySession, kind: str, edited: SessionNote | None = None,
             held: bool = False) -> NoteDraft | None:
    """Her draft of one note of this session (of her edit of `edited`, a note of hers), or None
    (only ever her own: the policy's scope). `held`: read as stored now and locked until commit,
    so that a write that decides on it (an autosave from another tab, a Save settling it) waits
    its turn and then decides on what that one left, never on what it read before."""
    query = policy.visible_note_drafts(author).where(
        NoteDraft.session_id == session.id, NoteDraft.kind == kind,
        NoteDraft.note_id == (edited.id if edited is not None else 0))
    if held:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def drafts_on_page(user: User, session: TherapySession) -> dict[tuple[str, int], NoteDraft]:
    """Her drafts on this session, by (kind, note id): a note's id for her edits of her notes
    (the page shows those only beside notes she may edit), 0 for every other note she may write."""
    drafts = db.session.scalars(policy.visible_note_drafts(user).where(NoteDraft.session_id == session.id))
    return {(d.kind, d.note_id): d for d in drafts
            if d.note_id or policy.can_write_session_note(user, session, d.kind)}


def _next_version(previous: datetime | None) -> datetime:
    now = utcnow()
    return previous + timedelta(microseconds=1) if previous is not None and now <= previous else now


def _empty(body: str, sections: list | None) -> bool:
    return not body.strip() and not any(text.strip() for _, text in sections or [])


def _holds(draft: NoteDraft, body: str, sections: list | None, visibility: str | None,
           template_name: str | None) -> bool:
    return (draft.body == body and (draft.sections or None) == (sections or None)
            and draft.visibility == visibility and draft.template_name == template_name)


def _as_saved(note: StoredNote, body: str, sections: list | None, visibility: str | None,
              template_name: str | None) -> bool:
    """Exactly what the note says now (its readers and its template too, where she chose them)."""
    return (body == note.body and (sections or None) == (note.sections or None)
            and visibility in (None, note.visibility)
            and (not sections or template_name in (None, note.template_name)))


def _keep(draft: NoteDraft, body: str, sections: list | None, base_version: int,
          visibility: str | None, template_name: str | None) -> None:
    draft.body, draft.sections, draft.base_version = body, sections or None, base_version
    draft.visibility, draft.template_name = visibility, (template_name or None) if sections else None
    draft.updated_at = _next_version(draft.updated_at)


def _new_draft(author: User, session: TherapySession, kind: str, edited: SessionNote | None) -> NoteDraft:
    draft = NoteDraft(session_id=session.id, author_id=author.id, kind=kind,
                      note_id=edited.id if edited is not None else 0)
    db.session.add(draft)
    return draft


def save_draft(author: User, session: TherapySession, kind: str, *, body: str,
               sections: list | None, base_version: int, seen: str | None,
               edited: SessionNote | None = None, visibility: str | None = None,
               template_name: str | None = None) -> NoteDraft | None:
    """Keep what she is typing as her draft of one note. Returns the draft, or None when there
    is nothing to keep (an empty box, or exactly the saved note: the draft is then dropped).
    Raises DraftRefused when the draft was changed elsewhere meanwhile, or when her text began
    from a version of the note that someone has saved over since (and no draft of hers began
    there too). `edited`: her note this draft is an edit of. Writes no audit row: nobody but
    her reads a draft."""
    if not policy.can_write_session_note(author, session, kind, edited):
        raise Forbidden()
    template_name = (template_name or None) if sections else None
    draft = draft_of(author, session, kind, edited, held=True)
    if draft is not None and draft.base_version == base_version \
            and _holds(draft, body, sections, visibility, template_name):
        return draft  # the same save again (its answer was lost): nothing to change
    if draft is not None and not _same_version(draft, seen):
        raise DraftRefused("draft", "Not saved as a draft: this note’s draft was also changed in "
                           "another tab or on another device. Nothing was overwritten, and your "
                           "text is still here.", draft.updated_at)
    note = stored_note(session, kind, edited)
    began_there = draft is not None and draft.base_version == base_version
    if base_version != note.version and not began_there:
        raise DraftRefused("note", "Not saved as a draft: this note was saved again since you "
                           "began. Your text is still here: press Save to see both versions "
                           "side by side and merge them.", note.updated_at)
    if _empty(body, sections) or (base_version == note.version
                                  and _as_saved(note, body, sections, visibility, template_name)):
        if draft is not None:
            db.session.delete(draft)
            db.session.commit()
        return None
    if draft is None:
        draft = _new_draft(author, session, kind, edited)
    _keep(draft, body, sections, base_version, visibility, template_name)
    try:
        db.session.commit()
    except IntegrityError:  # another tab's first draft of the same note, at the same moment
        db.session.rollback()
        raise DraftRefused("draft", "Not saved as a draft: this note was also being written in "
                           "another tab or on another device. Your text is still here.") from None
    return draft


def settle(author: User, session: TherapySession, kind: str, seen: str | None, body: str,
           sections: list | None = None, edited: SessionNote | None = None) -> None:
    """The note was saved (or left as it was) from a page: drop her draft of it (of her edit of
    `edited`) if that page held it, or if it holds exactly what the note now says. A draft
    written meanwhile in another tab is kept. Part of the caller's transaction."""
    draft = draft_of(author, session, kind, edited, held=True)
    if draft is None:
        return
    if _same_version(draft, seen) or (draft.body == body and (draft.sections or None) == (sections or None)):
        db.session.delete(draft)


def keep_refused(author: User, session: TherapySession, kind: str, seen: str | None, body: str,
                 sections: list | None, base_version: int, *, edited: SessionNote | None = None,
                 visibility: str | None = None, template_name: str | None = None) -> str:
    """Her Save met a note saved meanwhile: her text becomes her draft (begun from the version
    she had), so that leaving the conflict page loses nothing, with or without JavaScript. A
    draft written meanwhile in another tab is left as it is. Returns the version of the draft
    this page now holds ("" when it holds none)."""
    if not policy.can_write_session_note(author, session, kind, edited):
        raise Forbidden()
    draft = draft_of(author, session, kind, edited, held=True)
    if draft is not None and not _same_version(draft, seen) and draft.body != body:
        # Another tab's draft: it stays, and this page must not name it as its own (saving the
        # merge would then drop words this page never showed). Her text is on the conflict page.
        return ""
    if draft is None:
        draft = _new_draft(author, session, kind, edited)
    _keep(draft, body, sections, base_version, visibility, template_name)
    try:
        db.session.commit()
    except IntegrityError:  # another tab's first draft of it, at this very moment: that one stays
        db.session.rollback()
        return seen or ""
    return version_of(draft)


def discard_drafts_of(user: User) -> None:
    """Her account is closed: every draft of hers goes (part of the caller's transaction)."""
    db.session.execute(sa.delete(NoteDraft).where(NoteDraft.author_id == user.id))


def stale(draft: NoteDraft | None, note: StoredNote) -> bool:
    """Her draft began from a version of the note that was saved over since."""
    return draft is not None and (draft.base_version or 0) != note.version


def waiting_for(therapist: User, client: User) -> list[tuple[NoteDraft, datetime]]:
    """Her own drafts on this client's sessions (alone or with her pair), newest first, each with
    its session's start: the prep page reminds her of notes she began and has not saved."""
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    sessions = policy.visible_sessions(therapist).where(sa.or_(
        TherapySession.client_id == client.id, TherapySession.pair_id.in_(pair_ids))).subquery()
    return list(db.session.execute(
        policy.visible_note_drafts(therapist).join(sessions, sessions.c.id == NoteDraft.session_id)
        .add_columns(sessions.c.starts_at).order_by(NoteDraft.updated_at.desc())).tuples())
