"""The key check values: one per encryption key, so that a server with the wrong keys is
refused before it reads or writes anything (app/core/key_check.py, migration 0014)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class KeyCheck(db.Model):
    """A known constant encrypted with the key named by key_id. Plain text in the model, not
    EncryptedText: it must stay under its own key (rotate-key never touches it)."""

    __tablename__ = "key_checks"

    key_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    check_value: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
