"""Setting up two-factor sign-in is confirmed from the account's email first: a password alone
(guessed, phished or reused) must not be enough to tie someone else's authenticator app to an
account that has none yet. The link is signed, bound to the account and short-lived; opening it
while signed in as that account lets this browser show the setup secret for a while."""
from __future__ import annotations

import time

from flask import current_app, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app import audit
from app.core.links import external_url
from app.extensions import db
from app.models import User
from app.notifications.outbox import queue_email

ENROL_SALT = "common-ground-two-factor-enrolment"
LINK_MINUTES = 30
RESEND_SECONDS = 60
_CONFIRMED = "two_factor_enrolment_confirmed"
_SENT = "two_factor_enrolment_link_sent"


class EnrolmentError(Exception):
    """A link that cannot confirm anything, with a sentence that says what to do."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=ENROL_SALT)


def confirmed(user: User) -> bool:
    """This browser opened a valid link for this account within the last LINK_MINUTES."""
    mark = session.get(_CONFIRMED) or {}
    return mark.get("user") == user.id and time.time() - mark.get("at", 0) < LINK_MINUTES * 60


def send_link(user: User, force: bool = False) -> bool:
    """Email the link: once when the setup page is first opened, again when she asks (at most
    once a minute per browser). True when one was queued."""
    sent_at = (session.get(_SENT) or {}).get(str(user.id), 0)
    if time.time() - sent_at < RESEND_SECONDS or (sent_at and not force):
        return False
    token = _serializer().dumps({"u": user.id})
    queue_email(user.email, "Confirm setting up two-factor sign-in",
                f"Hello {user.name},\n\nTo set up two-factor sign-in for your Common Ground account, "
                f"open this link within {LINK_MINUTES} minutes, signed in as yourself:\n\n"
                f"{external_url('accounts.confirm_two_factor_enrolment', token=token)}\n\n"
                "If you did not ask for this, someone may know your password: change it now.\n",
                purpose="two_factor", user=user)
    session[_SENT] = {str(user.id): time.time()}
    audit.record(user, "two_factor_enrolment_link_sent", user)
    db.session.commit()
    return True


def confirm(user: User, token: str) -> None:
    """Accept the link for the signed-in account; EnrolmentError when it is not hers or too old."""
    try:
        data = _serializer().loads(token, max_age=LINK_MINUTES * 60)
    except SignatureExpired:
        raise EnrolmentError("This link has expired. Ask for a new one below.") from None
    except BadSignature:
        raise EnrolmentError("This link is not valid. Ask for a new one below.") from None
    if not isinstance(data, dict) or data.get("u") != user.id:
        raise EnrolmentError("This link belongs to another account. Sign in as that account to use it.")
    session[_CONFIRMED] = {"user": user.id, "at": time.time()}
    audit.record(user, "two_factor_enrolment_confirmed", user)
    db.session.commit()


def forget() -> None:
    """Setup finished: the confirmation is spent."""
    session.pop(_CONFIRMED, None)
    session.pop(_SENT, None)
