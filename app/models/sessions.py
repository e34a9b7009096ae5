"""Sessions: shared notes, the private clinical note (kept in tables of its own), what clients
add, and the agenda for next time. Every edit of a note keeps the previous version."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedJSON, EncryptedText
from app.extensions import db
from app.models.accounts import User
from app.models.base import UTCDateTime, utcnow
from app.models.pairs import Pair

NOTE_SHARED = "shared"      # the therapist's summary: the client (or both pair members) read it
NOTE_MEMBER = "member"      # a pair member's own note on a pair session

VISIBLE_TO_THERAPIST = "therapist"  # a member note for the therapist only
VISIBLE_TO_PAIR = "pair"            # a member note for the therapist and the partner


class TherapySession(db.Model):
    """A session the therapist held with one client or with a pair."""

    __tablename__ = "therapy_sessions"
    __table_args__ = (
        sa.CheckConstraint("(client_id IS NULL) <> (pair_id IS NULL)", name="client_or_pair"),
        sa.Index("ix_therapy_sessions_client_starts", "client_id", "starts_at"),
        sa.Index("ix_therapy_sessions_therapist_starts", "therapist_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    pair_id: Mapped[int | None] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int | None] = mapped_column()
    # Where it is held: a room's address or a video link (encrypted: a link lets anyone in).
    location: Mapped[str | None] = mapped_column(EncryptedText())
    # A session scheduled ahead that will not take place; kept, shown struck through.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    client: Mapped[User | None] = relationship(foreign_keys=[client_id])
    pair: Mapped[Pair | None] = relationship()
    notes: Mapped[list[SessionNote]] = relationship(back_populates="session", order_by="SessionNote.id")


class SessionNote(db.Model):
    """A shared summary (one per session) or a pair member's note. Optimistic locking: a save
    names the version it started from, and a stale version is a conflict, never an overwrite."""

    __tablename__ = "session_notes"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('shared', 'member')", name="kind_known"),
        sa.CheckConstraint("visibility IN ('client', 'therapist', 'pair')", name="visibility_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapy_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(10))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    visibility: Mapped[str] = mapped_column(sa.String(10))
    body: Mapped[str] = mapped_column(EncryptedText())
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[TherapySession] = relationship(back_populates="notes")
    author: Mapped[User] = relationship()
    revisions: Mapped[list[SessionNoteRevision]] = relationship(
        order_by="SessionNoteRevision.version.desc()")


class SessionNoteRevision(db.Model):
    """A previous version of a session note, kept when it was replaced."""

    __tablename__ = "session_note_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(sa.ForeignKey("session_notes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(EncryptedText())
    visibility: Mapped[str] = mapped_column(sa.String(10))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    saved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class ClinicalNote(db.Model):
    """The therapist's private clinical note on a session. Stored apart from everything shared,
    in its own tables; no client ever sees it."""

    __tablename__ = "clinical_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapy_sessions.id", ondelete="CASCADE"), unique=True
    )
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(EncryptedText())
    # Written on a template (SOAP, DAP, BIRP or her own): its name, and the sections as
    # [[label, text], ...]; body then holds the same text as one readable whole.
    template_name: Mapped[str | None] = mapped_column(sa.String(80))
    sections: Mapped[list | None] = mapped_column(EncryptedJSON())
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    revisions: Mapped[list[ClinicalNoteRevision]] = relationship(
        order_by="ClinicalNoteRevision.version.desc()")


class ClinicalNoteRevision(db.Model):
    __tablename__ = "clinical_note_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(sa.ForeignKey("clinical_notes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(EncryptedText())
    template_name: Mapped[str | None] = mapped_column(sa.String(80))
    sections: Mapped[list | None] = mapped_column(EncryptedJSON())
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NoteTemplate(db.Model):
    """A therapist's own clinical note template: a name and its sections' labels. The built-in
    ones (SOAP, DAP, BIRP) live in code (app/therapy_sessions/note_templates.py)."""

    __tablename__ = "note_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    sections: Mapped[list] = mapped_column(sa.JSON)  # ["Subjective", "Objective", ...]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


NOTE_DRAFT_KINDS = ("shared", "clinical", "member")


class NoteDraft(db.Model):
    """Words typed into a session note and saved as she types, before she saves the note: read
    by nobody but their author (a half-written shared note is never shown to the client). Saving
    the note makes it a new version and deletes the draft."""

    __tablename__ = "note_drafts"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "author_id", "kind", "note_id", name="uq_note_drafts_one_per_note"),
        sa.CheckConstraint("kind IN ('shared', 'clinical', 'member')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapy_sessions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    # A member's draft of an edit of one of her notes: that note's id; 0 for every other draft
    # (a shared or clinical note is one per session; a member's new note has no id yet). Not a
    # foreign key: 0 points nowhere, and the note's own deletion takes the session's drafts anyway.
    note_id: Mapped[int] = mapped_column(default=0, server_default="0")
    body: Mapped[str] = mapped_column(EncryptedText())
    sections: Mapped[list | None] = mapped_column(EncryptedJSON())
    template_name: Mapped[str | None] = mapped_column(sa.String(80))  # the sections' template
    visibility: Mapped[str | None] = mapped_column(sa.String(10))  # a member note's chosen readers
    base_version: Mapped[int | None] = mapped_column()  # the note's version she started from
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SessionComment(db.Model):
    """A client's comment on the shared notes of a session (read by her and her therapist)."""

    __tablename__ = "session_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapy_sessions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship()


class AgendaItem(db.Model):
    """Something a client wants to bring up next time; her therapist ticks it off."""

    __tablename__ = "agenda_items"
    __table_args__ = (sa.Index("ix_agenda_items_client_done", "client_id", "done_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    client: Mapped[User] = relationship(foreign_keys=[client_id])
