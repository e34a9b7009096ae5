"""The homework loop: exercises, tasks (assignments), reflections and what hangs off them."""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedJSON, EncryptedText
from app.extensions import db
from app.models.accounts import User
from app.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.pairs import PairExercise

SHARING_AUTHOR_CHOICE = "author_choice"      # the author may share with her pair partner
SHARING_THERAPIST_DEFAULT = "therapist_only"  # private unless the author decides otherwise
SHARING_NEVER = "never"                       # safety and boundaries: therapist only, always

TASK_OPEN = "open"
TASK_SUBMITTED = "submitted"
TASK_CANCELLED = "cancelled"

REFLECTION_DRAFT = "draft"
REFLECTION_SUBMITTED = "submitted"

STAYED_PRESENT_CHOICES = ("yes", "partly", "no")

DELETED_DAYS = 30  # a deleted task or reflection can be restored this long, then it is purged


class Exercise(db.Model):
    """An exercise in the library: built in (read-only) or a therapist's own."""

    __tablename__ = "exercises"
    __table_args__ = (
        sa.CheckConstraint(
            "(built_in AND owner_id IS NULL) OR (NOT built_in AND owner_id IS NOT NULL)",
            name="owner_matches_built_in",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    built_in: Mapped[bool] = mapped_column(default=False)
    family: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    instructions: Mapped[str] = mapped_column(sa.Text)
    # What the library shows before she opens it: a line or two, and how long it usually takes.
    description: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    typical_minutes: Mapped[int | None] = mapped_column()
    prompts: Mapped[list] = mapped_column(sa.JSON)
    # Optional wording per pair role, e.g. {"mother": [...], "daughter": [...]}, same length as prompts.
    member_prompts: Mapped[dict | None] = mapped_column(sa.JSON)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[User | None] = relationship()


class Assignment(db.Model):
    """A task: one exercise given to one client, with its own copy of the exercise's text."""

    __tablename__ = "assignments"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'submitted', 'cancelled')", name="status_known"),
        sa.Index("ix_assignments_client_status_due", "client_id", "status", "due_date"),
        sa.Index("ix_assignments_deleted", "therapist_id", "deleted_at"),
        sa.Index("ix_assignments_client_due", "client_id", "due_date"),  # her tasks, by due date
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    exercise_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("exercises.id", ondelete="SET NULL"), index=True
    )
    exercise_version: Mapped[int] = mapped_column(default=1)
    # The exercise as it was when assigned: later edits never change a task already given.
    family: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    instructions: Mapped[str] = mapped_column(sa.Text)
    prompts: Mapped[list] = mapped_column(sa.JSON)
    sharing: Mapped[str] = mapped_column(sa.String(20))
    # The therapist's note to her (on a pair exercise, the same note on each member's task).
    note: Mapped[str] = mapped_column(EncryptedText(), default="")
    due_date: Mapped[date] = mapped_column(sa.Date)
    series_key: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    occurrence: Mapped[int] = mapped_column(default=1)
    occurrences: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default=TASK_OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pair_exercise_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("pair_exercises.id", ondelete="SET NULL"), index=True
    )
    # Soft delete: hidden everywhere while set, restorable for DELETED_DAYS, then purged.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    client: Mapped[User] = relationship(foreign_keys=[client_id])
    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    exercise: Mapped[Exercise | None] = relationship()
    reflection: Mapped[Reflection | None] = relationship(back_populates="assignment", uselist=False)
    pair_exercise: Mapped[PairExercise | None] = relationship(back_populates="tasks")


class Reflection(db.Model):
    """A client's answers to one task: a draft until she submits it, then never overwritten."""

    __tablename__ = "reflections"
    __table_args__ = (
        sa.CheckConstraint("status IN ('draft', 'submitted')", name="status_known"),
        sa.CheckConstraint("resentment IS NULL OR (resentment BETWEEN 0 AND 10)", name="resentment_range"),
        sa.CheckConstraint("closeness IS NULL OR (closeness BETWEEN 0 AND 10)", name="closeness_range"),
        sa.CheckConstraint(
            "stayed_present IS NULL OR stayed_present IN ('yes', 'partly', 'no')",
            name="stayed_present_known",
        ),
        # Only the few deleted rows: the purge finds them; live rows (deleted_at IS NULL) are
        # never looked up through it.
        sa.Index("ix_reflections_deleted_at", "deleted_at",
                 sqlite_where=sa.text("deleted_at IS NOT NULL"),
                 postgresql_where=sa.text("deleted_at IS NOT NULL")),
        # Her review queue and counts start from her tasks (SQLite's choice) or from her
        # clients (PostgreSQL's choice); each index answers its look-up without reading the
        # wide rows (they carry the encrypted answers).
        sa.Index("ix_reflections_review_state", "assignment_id", "status", "reviewed_at", "urgent",
                 "submitted_at", "deleted_at"),
        sa.Index("ix_reflections_author_review", "author_id", "status", "reviewed_at", "urgent",
                 "submitted_at", "deleted_at", "assignment_id"),
        # Her ratings over time (charts, trends, the caseload's sparklines, a pair's page).
        sa.Index("ix_reflections_author_status_submitted", "author_id", "status", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assignments.id", ondelete="CASCADE"), unique=True
    )
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    answers: Mapped[list] = mapped_column(EncryptedJSON(), default=list)
    resentment: Mapped[int | None] = mapped_column()
    closeness: Mapped[int | None] = mapped_column()
    stayed_present: Mapped[str | None] = mapped_column(sa.String(10))
    status: Mapped[str] = mapped_column(sa.String(20), default=REFLECTION_DRAFT)
    draft_saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    urgent: Mapped[bool] = mapped_column(default=False)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    feedback_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set while the author shares it with her pair partner; cleared when she withdraws it.
    shared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Soft delete. Deleting a task sets this too, to the task's own deleted_at (so every
    # reflection query needs only this column); restoring the task clears it only if equal.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    assignment: Mapped[Assignment] = relationship(back_populates="reflection")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    addenda: Mapped[list[Addendum]] = relationship(order_by="Addendum.created_at")
    feedback: Mapped[list[Feedback]] = relationship(order_by="Feedback.created_at")

    @property
    def has_new_feedback(self) -> bool:
        return self.last_feedback_at is not None and (
            self.feedback_seen_at is None or self.feedback_seen_at < self.last_feedback_at
        )


class Addendum(db.Model):
    """Something the author adds after submitting; the original stays as it was."""

    __tablename__ = "addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    reflection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reflections.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Feedback(db.Model):
    """The therapist's answer to a reflection; the client reads it."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    reflection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reflections.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PrivateAnnotation(db.Model):
    """The therapist's own note on a reflection. Kept in its own table; no client ever sees it."""

    __tablename__ = "private_annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    reflection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reflections.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
