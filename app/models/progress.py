"""Notifications and the reminders already sent."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

# What a notification is about. The text shown is built from the kind; no content is stored.
NOTIFICATION_KINDS = ("new_task", "new_feedback", "partner_shared", "pair_invitation",
                      "agenda_item", "reminder_due", "reminder_overdue", "new_reflection", "pair_reply",
                      "pair_turn", "pair_revealed", "new_message", "session_scheduled", "session_moved",
                      "session_cancelled")


class Notification(db.Model):
    """Something new for a person, shown in the app (and emailed when she asked for it)."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    link: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReminderSent(db.Model):
    """One reminder of one kind for one task: the unique key makes `send-reminders` idempotent."""

    __tablename__ = "reminders_sent"
    __table_args__ = (sa.UniqueConstraint("assignment_id", "kind", name="once_per_task_and_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # due (tomorrow), overdue
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
