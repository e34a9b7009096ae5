"""One-time keys of the forms that create something (app/core/once.py uses them)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class OnceKey(db.Model):
    """A form's one-time key, stored in the transaction of the write it made: a second post of
    the same form (a retry after a lost answer, a double click) finds it and makes nothing.
    `made` holds the ids of what the first post made, so that the second is answered the same."""

    __tablename__ = "once_keys"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    made: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
