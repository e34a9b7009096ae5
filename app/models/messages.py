"""Secure messages: one thread between a client and her therapist, one for a pair with theirs."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedText
from app.extensions import db
from app.models.accounts import User
from app.models.base import UTCDateTime, utcnow

MESSAGE_MAX_LENGTH = 5000


class MessageThread(db.Model):
    """A conversation with the therapist: of one client (`client_id`) or of a pair (`pair_id`),
    never both; at most one of each. Made when its first message is written."""

    __tablename__ = "message_threads"
    __table_args__ = (
        sa.CheckConstraint("(client_id IS NULL) <> (pair_id IS NULL)", name="client_or_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    pair_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("pairs.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    client: Mapped[User | None] = relationship(foreign_keys=[client_id])


class Message(db.Model):
    """One message in a thread, encrypted at rest. `reflection_id`: written as a reply to the
    feedback on that reflection (the thread links to it)."""

    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_thread_created", "thread_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("message_threads.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(EncryptedText())
    reflection_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("reflections.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class MessageRead(db.Model):
    """How far one person has read one thread (read state for both sides)."""

    __tablename__ = "message_reads"

    thread_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message_threads.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    read_up_to: Mapped[int] = mapped_column(default=0)  # the last message id she has seen
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
