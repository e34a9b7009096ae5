"""Pairs: two clients linked with both members' consent, and the exercises given to a pair."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedText
from app.extensions import db
from app.models.accounts import User
from app.models.base import UTCDateTime, utcnow
from app.models.homework import Assignment


def linked(ended_at, members) -> bool:
    """A pair is linked while nobody has ended it, both members accepted and neither closed her
    account (Pair.is_active, and the caseload's plain rows of pairs)."""
    return ended_at is None and len(members) == 2 and all(
        m.accepted_at is not None and m.user.closed_at is None for m in members)


class Pair(db.Model):
    """Two clients of the same therapist, linked once both have accepted (usually a mother and
    her daughter). Ending a pair (either member leaves, or the therapist dissolves it) ends all
    access to what each had shared, at once."""

    __tablename__ = "pairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    end_reason: Mapped[str | None] = mapped_column(sa.String(20))  # declined, left, dissolved

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    members: Mapped[list[PairMember]] = relationship(
        back_populates="pair", order_by="PairMember.id", lazy="selectin"
    )

    @property
    def is_active(self) -> bool:
        """Linked: both members accepted and nobody has ended it."""
        return linked(self.ended_at, self.members)

    @property
    def linked_since(self):
        """When the second member accepted: shares made before that do not count."""
        accepted = [m.accepted_at for m in self.members]
        return max(accepted) if accepted and all(accepted) else None

    @property
    def is_pending(self) -> bool:
        return self.ended_at is None and not self.is_active

    def member_for(self, user_id: int) -> PairMember | None:
        return next((m for m in self.members if m.user_id == user_id), None)

    def partner_of(self, user_id: int) -> PairMember | None:
        return next((m for m in self.members if m.user_id != user_id), None)


class PairMember(db.Model):
    """One member of a pair, with the relation label the therapist gave her."""

    __tablename__ = "pair_members"
    __table_args__ = (sa.UniqueConstraint("pair_id", "user_id", name="one_membership"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(sa.String(40))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pair: Mapped[Pair] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")


class PairExercise(db.Model):
    """One exercise given to a pair: each member gets her own task and writes her own reflection."""

    __tablename__ = "pair_exercises"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    # Shared reflections become visible to the partner only once both have sent theirs.
    reveal_together: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    pair: Mapped[Pair] = relationship()
    tasks: Mapped[list[Assignment]] = relationship(back_populates="pair_exercise",
                                                   order_by="Assignment.id")


class PairReply(db.Model):
    """After the reveal, a member answers one of the other's answers: a short reply, or one of
    a few gentle reactions. Both members and their therapist read it; its author may edit it
    for a few minutes and withdraw it at any time (a withdrawn reply is kept, shown to nobody)."""

    __tablename__ = "pair_replies"
    __table_args__ = (sa.Index("ix_pair_replies_exercise", "pair_exercise_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_exercise_id: Mapped[int] = mapped_column(sa.ForeignKey("pair_exercises.id", ondelete="CASCADE"))
    reflection_id: Mapped[int] = mapped_column(sa.ForeignKey("reflections.id", ondelete="CASCADE"), index=True)
    prompt_index: Mapped[int] = mapped_column()
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    reaction: Mapped[str | None] = mapped_column(sa.String(30))
    body: Mapped[str] = mapped_column(EncryptedText(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    author: Mapped[User] = relationship(lazy="joined")
