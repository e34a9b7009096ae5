"""Delivery: the outbox of emails and pushes, and the devices a person receives pushes on."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedText
from app.extensions import db
from app.models.base import UTCDateTime, utcnow

CHANNEL_EMAIL = "email"
CHANNEL_PUSH = "push"
OUTBOX_PENDING = "pending"  # waiting for its time (next_attempt_at), or for a retry
OUTBOX_SENDING = "sending"  # claimed by a worker until claimed_until
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"    # given up after the last retry (logged; kept for the operator)
OUTBOX_DROPPED = "dropped"  # no longer to be sent (a push device gone, an account closed)


class OutboxItem(db.Model):
    """One email or push, written in the same transaction as the change that causes it and sent
    afterwards by a worker. Never content: an email's body holds at most a sentence and a link
    (for a reset or an invitation, a link with a token: hence encrypted at rest)."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('email', 'push')", name="channel_known"),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dropped')",
                           name="status_known"),
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    purpose: Mapped[str] = mapped_column(sa.String(30))  # notification, reset, invitation, digest ...
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str | None] = mapped_column(sa.String(254))  # an email address
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    body: Mapped[str] = mapped_column(EncryptedText(), default="")
    status: Mapped[str] = mapped_column(sa.String(10), default=OUTBOX_PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(sa.String(80))
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PushSubscription(db.Model):
    """One device (browser) on which a person turned push on: the push service's endpoint and
    the keys its payloads are encrypted with (RFC 8291)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(sa.String(200))
    auth: Mapped[str] = mapped_column(sa.String(100))
    device: Mapped[str] = mapped_column(sa.String(120), default="")  # "Chrome on Android"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
