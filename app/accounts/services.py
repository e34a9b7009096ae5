"""Account services: sign in, sign out, password change and reset."""
from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm.attributes import set_committed_value

from app import audit
from app.accounts import login_sessions as sessions
from app.core import passwords
from app.core.links import external_url
from app.extensions import db, limiter
from app.models import User, utcnow
from app.models.accounts import PRONOUNS
from app.notifications.outbox import queue_email

RESET_SALT = "common-ground-password-reset"
log = logging.getLogger("common_ground.accounts")


class AccountError(Exception):
    """A refusal with a sentence the person can act on, and the form field it belongs to."""

    def __init__(self, message: str, field: str = "password"):
        super().__init__(message)
        self.field = field


class ResetLinkError(AccountError):
    """A reset link that cannot be used (expired, used or forged), as against a refused password."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user(user_id) -> User | None:
    """The account with this id (the half-signed-in one waiting for its code)."""
    return db.session.get(User, user_id) if isinstance(user_id, int) else None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def hold_account(user: User) -> User:
    """Hold the account's row until this transaction ends, read afresh: what is decided next
    (a lock, a used reset link, the current password, a closed account) rests on what is there
    now, and another request deciding the same waits for this one's commit. PostgreSQL locks the
    row; SQLite takes its write lock (app/core/database.py)."""
    db.session.scalars(_HELD_ACCOUNT, {"user_id": user.id}).one()
    return user


# FOR NO KEY UPDATE on PostgreSQL: deciders wait for each other, while a row that merely points
# at her (an audit row, a notice, her words) is written without waiting for the decision.
_HELD_ACCOUNT = (sa.select(User).where(User.id == sa.bindparam("user_id"))
                 .with_for_update(key_share=True).execution_options(populate_existing=True))


LOCKOUT_AFTER = 5          # failed attempts (passwords and codes together) before the account locks
LOCKOUT_MAX_MINUTES = 60   # the lock doubles with each further failure, up to this
RESET_EMAILS_PER_HOUR = 3  # reset links sent to one account per hour, however often asked


def authenticate(email: str, password: str) -> User | None:
    """The user whose email and password match, or None, with the same answer, the same work and
    the same writes whether the address has an account, the password is wrong or the account
    is locked (the owner of a locked account learns of it by email, not whoever is typing).
    Failures count towards a lockout that grows; the count is shared with the code step and
    only a complete sign-in (sign_in) clears it. Attempts at one account take turns, from the
    lock check to their count (the row is held): each parallel guess sees the lock the ones
    before it set, and a sign-in never clears a lock it did not see."""
    user = find_user_by_email(email)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None:
        audit.record(None, "sign_in_failed_unknown_email")
        db.session.commit()
        return None
    checked = user.password_hash
    hold_account(user)  # held after the slow hash: a guess never holds her row while it hashes
    if user.password_hash != checked:  # a new password meanwhile: the old one no longer opens it
        ok = passwords.verify_password(user.password_hash, password)
    if is_locked(user):
        record_failed_attempt(user, "sign_in_refused_locked", count=False)
        return None
    if not ok or not user.is_active:
        record_failed_attempt(user, "sign_in_failed")
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return user


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def record_failed_attempt(user: User, action: str, count: bool = True) -> None:
    """Audit a failed attempt (a password or a code) and, when it counts, lengthen the lockout;
    a lock that begins is announced to the account's owner by email."""
    if count:
        # Counted by the database itself: parallel failures (several workers or machines) each
        # add one, where a read-then-write in Python would let them overwrite each other.
        failed = db.session.execute(
            sa.update(User).where(User.id == user.id)
            .values(failed_logins=sa.func.coalesce(User.failed_logins, 0) + 1)
            .returning(User.failed_logins).execution_options(synchronize_session=False)
        ).scalar_one()
        set_committed_value(user, "failed_logins", failed)
        if failed >= LOCKOUT_AFTER:
            minutes = min(2 ** (failed - LOCKOUT_AFTER), LOCKOUT_MAX_MINUTES)
            user.locked_until = utcnow() + timedelta(minutes=minutes)
            _tell_owner_of_lock(user, minutes)
    audit.record(None, action, user)
    db.session.commit()


def _tell_owner_of_lock(user: User, minutes: int) -> None:
    queue_email(user.email, "Your Common Ground account is paused for a while",
                f"Hello {user.name},\n\nSomeone tried to sign in to your Common Ground account and got "
                f"the password or the code wrong several times, so for your safety the account is "
                f"paused for {minutes} minute{'s' if minutes != 1 else ''}. Nothing was opened.\n\n"
                "If it was you, wait and try again. If it was not, choose a new password:\n\n"
                f"{external_url('accounts.forgot_password')}\n", purpose="account_paused", user=user)


def sign_in(user: User) -> None:
    """Open a login session and record the sign-in (both steps done: the failure count clears,
    unless parallel guesses locked the account after her steps were decided: that lock stands)."""
    hold_account(user)
    if not is_locked(user):
        user.failed_logins = 0
        user.locked_until = None
    sessions.start_session(user)
    audit.record(user, "sign_in", user)
    db.session.commit()


def sign_out(user: User) -> None:
    """End this browser's login session for good."""
    sessions.end_session(user)
    audit.record(user, "sign_out", user)
    db.session.commit()


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the password after checking the current one; every other session ends."""
    checked = user.password_hash
    if not passwords.verify_password(checked, current_password):
        raise AccountError("Your current password is not right.", field="current_password")
    problem = passwords.password_problem(new_password, email=user.email, name=user.name)
    if problem:
        raise AccountError(problem)
    new_hash = passwords.hash_password(new_password)
    # Two changes at once (two tabs, or someone else with the old password): the second, read
    # afresh once the first has committed, checks its current password against the new one.
    hold_account(user)
    if user.password_hash != checked and not passwords.verify_password(user.password_hash,
                                                                       current_password):
        raise AccountError("Your current password is not right.", field="current_password")
    user.password_hash = new_hash
    sessions.end_other_sessions(user)
    audit.record(user, "password_changed", user)
    db.session.commit()


# --- password reset ------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _fingerprint(user: User) -> str:
    # Binding the token to the current hash makes it single-use: a reset changes the hash.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def make_reset_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "f": _fingerprint(user)})


def request_password_reset(email: str) -> None:
    """Queue a reset link when the address has an account (at most RESET_EMAILS_PER_HOUR an
    hour). The same work, writes and answer when it has none — a token, a link, a count, one
    audit row — so that neither the answer nor its time tells which addresses have accounts;
    the email itself goes after the response."""
    user = find_user_by_email(email)
    owner = user if user is not None and user.is_active else None
    token = make_reset_token(owner) if owner else _serializer().dumps({"u": 0, "f": "0" * 20})
    link = external_url("accounts.reset_password", token=token)
    allowed = _within(f"{RESET_EMAILS_PER_HOUR} per hour", "password-reset-email",
                      f"{owner.id if owner else 0}:{normalise_email(email)}")
    if owner is None:
        action = "password_reset_requested_unknown"
    elif not allowed:
        action = "password_reset_throttled"
    else:
        action = "password_reset_requested"
        minutes = int(current_app.config["PASSWORD_RESET_LIFETIME"].total_seconds() // 60)
        queue_email(owner.email, "Reset your Common Ground password",
                    f"Hello {owner.name},\n\nSomeone (we hope you) asked to reset your Common Ground "
                    f"password.\nOpen this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
                    "The link works once. If you did not ask for this, you can ignore this email; "
                    "your password stays as it is.\n", purpose="reset", user=owner)
    audit.record(None, action, owner)
    db.session.commit()


_LOCAL_COUNTS = MovingWindowRateLimiter(MemoryStorage())


def _within(rate: str, *keys: str) -> bool:
    """Count one more against `rate` in the throttle's shared store (Redis when configured); if
    that store does not answer, count in this process rather than fail or hang."""
    try:
        return limiter.limiter.hit(parse(rate), *keys)
    except Exception as exc:  # a store that is down raises its own errors (redis, limits)
        log.warning("throttle store unavailable (%s): counting in this process", type(exc).__name__)
        return _LOCAL_COUNTS.hit(parse(rate), *keys)


def user_for_reset_token(token: str, hold: bool = False) -> User:
    """The user a reset token belongs to; ResetLinkError when it is expired, used or forged.
    `hold`: her row is held until commit and checked as it is now (hold_account)."""
    max_age = current_app.config["PASSWORD_RESET_LIFETIME"].total_seconds()
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise ResetLinkError("This reset link has expired. Ask for a new one below.") from None
    except BadSignature:
        raise ResetLinkError("This reset link is not valid. Ask for a new one below.") from None
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is not None and hold:
        hold_account(user)
    if user is None or not user.is_active or data.get("f") != _fingerprint(user):
        raise ResetLinkError("This reset link has already been used. Ask for a new one below.")
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; every session of the account ends."""
    user = user_for_reset_token(token)
    problem = passwords.password_problem(new_password, email=user.email, name=user.name)
    if problem:
        raise AccountError(problem)
    new_hash = passwords.hash_password(new_password)
    # The link is single-use because the password it was made for is in it: the same link sent
    # twice at once, the second request waits here for the first and finds the link used.
    user = user_for_reset_token(token, hold=True)
    user.password_hash = new_hash
    user.failed_logins = 0
    user.locked_until = None
    user.session_token = None
    sessions.end_other_sessions(user)
    audit.record(user, "password_reset", user)
    db.session.commit()
    return user


def update_account(user: User, name: str, timezone: str, email_notifications: bool = False,
                   pronouns: str | None = None, *, email_digest: bool | None = None,
                   quiet: tuple | None = None) -> None:
    """Change one's display name, pronouns, time zone and how she is told of new things:
    email at all, each time or once a day (`email_digest`), and her quiet hours (`quiet`: a
    (from, until) pair of times, both or neither)."""
    from zoneinfo import available_timezones

    name = " ".join((name or "").split())
    if not name:
        raise AccountError("Please enter your name.", field="name")
    if timezone not in available_timezones():
        raise AccountError("Please choose a time zone from the list.", field="timezone")
    if pronouns is not None:
        if pronouns not in PRONOUNS and pronouns != "":
            raise AccountError("Please choose from the list.", field="pronouns")
        user.pronouns = pronouns
    if quiet is not None:
        start, end = quiet
        if (start is None) != (end is None):
            raise AccountError("Give both times of your quiet hours, or neither.",
                               field="quiet_until" if end is None else "quiet_from")
        if start is not None and start == end:
            raise AccountError("Quiet hours need to end at another time than they start.",
                               field="quiet_until")
        user.quiet_from, user.quiet_until = start, end
    if email_digest is not None:
        user.email_digest = email_digest
    user.name = name
    user.timezone = timezone
    user.email_notifications = bool(email_notifications)
    audit.record(user, "account_updated", user)
    db.session.commit()
