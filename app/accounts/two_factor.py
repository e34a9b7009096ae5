"""Two-factor sign-in with time-based codes (TOTP, RFC 6238) and one-time recovery codes.

Required for therapists (set up at first sign-in), offered to clients. Each code works once:
the last accepted time step is stored, and only a later step is accepted next time."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from markupsafe import Markup

from app import audit
from app.accounts.services import hold_account
from app.core import passwords
from app.extensions import db
from app.models import RecoveryCode, User, utcnow

ISSUER = "Common Ground"
STEP_SECONDS = 30
RECOVERY_CODES = 10


class TwoFactorError(Exception):
    """A refusal with a sentence the person can act on."""


def required_for(user: User) -> bool:
    return user.is_therapist


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The setup QR code as inline SVG (no script, no external image)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#1f2a2e", light="#ffffff",
                                                 title="QR code for your authenticator app")
    return Markup(svg)  # generated from our own URI, not user text


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (now, or one either side for clock drift) whose code matches."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def verify_code(user: User, code: str, now: float | None = None) -> bool:
    """True once per code: a step at or before the last one accepted is refused (no replay).
    The check and the update are one conditional UPDATE, so two requests cannot both use it."""
    if not enabled(user):
        return False
    step = _matching_step(user.totp_secret, code, now)
    if step is None:
        return False
    won = db.session.execute(
        sa.update(User).where(User.id == user.id,
                              sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if won == 1:
        user.totp_last_step = step
    return won == 1


def _hash_code(code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, code.strip().lower().replace("-", "").encode(), hashlib.sha256).hexdigest()


def use_recovery_code(user: User, code: str) -> bool:
    """A recovery code works once."""
    digest = _hash_code(code or "")
    row = db.session.scalar(sa.select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None)))
    if row is None:
        return False
    won = db.session.execute(
        sa.update(RecoveryCode).where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if won != 1:  # another request used it first: this one used nothing (the caller counts it)
        return False
    audit.record(user, "recovery_code_used", user)
    db.session.commit()
    return True


def _new_recovery_codes(user: User) -> list[str]:
    """A new set in place of the old (the caller holds the account: hold_account)."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["-".join(secrets.token_hex(2) for _ in range(3)) for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(c)) for c in codes)
    return codes


def enable(user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor on once the person proves her app shows the right code; returns the
    recovery codes (shown once, never stored in the clear)."""
    step = _matching_step(secret, code)
    if step is None:
        raise TwoFactorError("That code does not match. Check the time on your phone and try the "
                             "newest code.")
    # Set up in two windows at once: the second waits for the first and keeps its secret (the
    # app set up there would otherwise stop working the moment it was confirmed).
    hold_account(user)
    if enabled(user):
        raise TwoFactorError("Two-factor sign-in was turned on meanwhile, in another window: "
                             "use the app you set up there.")
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    audit.record(user, "two_factor_enabled", user)
    db.session.commit()
    return codes


def regenerate_recovery_codes(user: User, password: str) -> list[str]:
    if not passwords.verify_password(user.password_hash, password):
        raise TwoFactorError("Your password is not right.")
    # Two renewals at once: the second waits and deletes the first's codes, so one set is live.
    hold_account(user)
    codes = _new_recovery_codes(user)
    audit.record(user, "recovery_codes_renewed", user)
    db.session.commit()
    return codes


def disable(user: User, password: str) -> None:
    """Clients may turn it off again (with their password); therapists may not."""
    if required_for(user):
        raise TwoFactorError("Two-factor sign-in is required for therapists.")
    if not passwords.verify_password(user.password_hash, password):
        raise TwoFactorError("Your password is not right.")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(user, "two_factor_disabled", user)
    db.session.commit()


def remaining_recovery_codes(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()
