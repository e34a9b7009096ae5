"""People and their access: users, login sessions, invitations, the audit trail."""
from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import ROLE_CLIENT, ROLE_THERAPIST, UTCDateTime, utcnow

PRONOUNS = {
    "she": {"subject": "she", "object": "her", "possessive": "her", "label": "she / her"},
    "he": {"subject": "he", "object": "him", "possessive": "his", "label": "he / him"},
    "they": {"subject": "they", "object": "them", "possessive": "their", "label": "they / them"},
}


class User(db.Model):
    """A therapist or a client. A client belongs to exactly one therapist."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('therapist', 'client')", name="role_known"),
        sa.CheckConstraint(
            "(role = 'client' AND therapist_id IS NOT NULL) OR "
            "(role = 'therapist' AND therapist_id IS NULL)",
            name="client_has_therapist",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[str] = mapped_column(sa.String(20))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    therapist_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id"), index=True
    )
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/London")
    # The pronouns she chose ("she", "he", "they"); empty: pages use her name or neutral words.
    pronouns: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Email when there is something new (never the content itself). Off for clients by default.
    email_notifications: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Two-factor sign-in (TOTP). Required for therapists, offered to clients.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)  # each code works once
    # Lockout after repeated failed sign-ins; it grows with every further failure.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Delivery (app/notifications/outbox.py): no email or push between these two times of her
    # own day (both set, or neither; the span may run past midnight); one email a day listing
    # how many things are new instead of one per thing; when that digest last went.
    quiet_from: Mapped[time | None] = mapped_column(sa.Time())
    quiet_until: Mapped[time | None] = mapped_column(sa.Time())
    email_digest: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A therapist's own words about when she reads messages, shown above every message box.
    message_hours: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")
    # A therapist's calendar subscription (app/therapy_sessions/calendar_feed.py): the SHA-256 of
    # the secret in its address (none: no feed), and whether it shows names (initials otherwise).
    calendar_token_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True, unique=True)
    calendar_shows_names: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    therapist: Mapped[User | None] = relationship(remote_side=[id], back_populates="clients")
    clients: Mapped[list[User]] = relationship(back_populates="therapist")

    # Flask-Login: the id carries the login session's token, so ending that session (logout,
    # password change) also invalidates any copied session or remember-me cookie.
    session_token = None  # set per request by the loader; not a column
    unread_notifications = None  # counted by the loader with the session check

    @property
    def is_therapist(self) -> bool:
        return self.role == ROLE_THERAPIST

    @property
    def is_client(self) -> bool:
        return self.role == ROLE_CLIENT

    @property
    def is_active(self) -> bool:
        return self.closed_at is None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def pronoun(self, form: str) -> str:
        """How pages refer to this person: `form` is "subject" (she), "object" (her) or
        "possessive" (her). Without chosen pronouns: her first name ("Jonah", "Jonah's")."""
        words = PRONOUNS.get(self.pronouns or "")
        if words is None:
            first = (self.name or "").split(" ")[0] or "this person"
            return f"{first}’s" if form == "possessive" else first
        return words[form]

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token or ''}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class LoginSession(db.Model):
    """One signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")

    user: Mapped[User] = relationship()


class Invitation(db.Model):
    """A therapist's invitation for a new client: a single-use link that expires."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    # A random nonce signed with SECRET_KEY forms the link; a stolen database alone cannot.
    nonce: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])

    def is_pending(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class AuditEvent(db.Model):
    """Who did or read what in whose record, and when. Rows are only ever added."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(64))
    subject_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[int | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(sa.String(45))


class RecoveryCode(db.Model):
    """A one-time recovery code for two-factor sign-in; only its hash is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
