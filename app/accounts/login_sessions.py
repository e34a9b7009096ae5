"""Server-side login sessions: what makes logout, and a password change, really end a session."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, request
from flask_login import LoginManager

from app.extensions import db
from app.models import LoginSession, Notification, User, utcnow

# Writing last_seen_at on every request would make each page a write; once a minute is enough
# for an idle timeout measured in tens of minutes.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> str:
    """Open a login session for `user`; returns the raw token (kept only in her cookies)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        LoginSession(
            user_id=user.id,
            token_hash=_hash(token),
            user_agent=(request.headers.get("User-Agent") or "")[:200],
        )
    )
    user.session_token = token
    return token


def end_session(user: User) -> None:
    """End the login session this request belongs to."""
    if user.session_token:
        db.session.execute(
            sa.update(LoginSession)
            .where(LoginSession.token_hash == _hash(user.session_token), LoginSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def end_other_sessions(user: User) -> int:
    """End every login session of `user` except the current one (all of them if none)."""
    query = sa.update(LoginSession).where(
        LoginSession.user_id == user.id, LoginSession.ended_at.is_(None)
    )
    if user.session_token:
        query = query.where(LoginSession.token_hash != _hash(user.session_token))
    return db.session.execute(query.values(ended_at=utcnow())).rowcount


def _is_live(login_session: LoginSession, now) -> bool:
    cfg = current_app.config
    return (
        login_session.ended_at is None
        and now - login_session.created_at < cfg["SESSION_ABSOLUTE_LIFETIME"]
        and now - login_session.last_seen_at < cfg["SESSION_IDLE_TIMEOUT"]
    )


# Her login session and account, with her unread notifications and, among them, her
# conversations with a new message (one notice per thread until she opens it:
# app/messages/threads.py): the badges on every page come in the same round trip. Built once:
# every request asks it, and a statement built anew is compiled and keyed anew each time.
_unread = (sa.select(sa.func.count(Notification.id))
           .where(Notification.user_id == User.id, Notification.read_at.is_(None))
           .scalar_subquery())
_unread_threads = (sa.select(sa.func.count(Notification.id))
                   .where(Notification.user_id == User.id, Notification.read_at.is_(None),
                          Notification.kind == "new_message")
                   .scalar_subquery())
_SIGNED_IN = (sa.select(LoginSession, User, _unread, _unread_threads)
              .join(User, User.id == LoginSession.user_id)
              .where(LoginSession.token_hash == sa.bindparam("token_hash"),
                     User.id == sa.bindparam("user_id")))


def load_user(user_id_and_token: str) -> User | None:
    """Flask-Login's loader: the user only while her login session is live."""
    user_id, _, token = (user_id_and_token or "").partition(":")
    if not user_id.isdigit() or not token:
        return None
    row = db.session.execute(_SIGNED_IN, {"token_hash": _hash(token), "user_id": int(user_id)}).first()
    if row is None:
        return None
    login_session, user, unread_count, unread_messages = row
    now = utcnow()
    if not _is_live(login_session, now) or not user.is_active:
        return None
    if now - login_session.last_seen_at > LAST_SEEN_RESOLUTION:
        login_session.last_seen_at = now
        db.session.commit()
    user.session_token = token
    user.unread_notifications = unread_count
    user.unread_messages = unread_messages
    return user


def init_login_manager(login_manager: LoginManager) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
