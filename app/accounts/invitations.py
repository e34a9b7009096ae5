"""Invitation services: create, send, resend, revoke and accept."""
from __future__ import annotations

import math
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.accounts import login_sessions as sessions
from app.accounts.services import normalise_email
from app.core import once, passwords
from app.core.links import external_url
from app.extensions import db
from app.models import ROLE_CLIENT, Invitation, User, utcnow
from app.notifications.outbox import queue_email

INVITATION_SALT = "common-ground-invitation"


class InvitationError(Exception):
    """A refusal with a sentence the person can act on."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=INVITATION_SALT)


def invitation_token(invitation: Invitation) -> str:
    return _serializer().dumps([invitation.id, invitation.nonce])


def invitation_link(invitation: Invitation) -> str:
    """The link the client opens; the therapist can copy it when email is not used."""
    return external_url("accounts.accept_invitation", token=invitation_token(invitation))


def _send(invitation: Invitation) -> None:
    """Queue the invitation email in the caller's transaction (the outbox sends it, and tries
    again while the mail server is down; the caseload shows how it went)."""
    therapist = invitation.therapist
    therapist_name = " ".join(therapist.name.split())  # no line breaks in a mail header
    # Round up: a 7-day link checked a moment after it was made has 6 days and 23:59 left.
    days = max(1, math.ceil((invitation.expires_at - utcnow()) / timedelta(days=1)))
    if _has_account(invitation.email):
        _send_to_existing_account(invitation, therapist_name)
    else:
        queue_email(
            invitation.email,
            f"{therapist_name} invites you to Common Ground",
            f"Hello,\n\n{therapist_name} has invited you to Common Ground, the private space where "
            "you will find the exercises you agree on together and write your reflections between "
            f"sessions.\n\nOpen this link to choose your password (it works once, for {days} days):\n\n"
            f"{invitation_link(invitation)}\n\nIf you were not expecting this, you can ignore it.\n",
            purpose="invitation",
        )
    invitation.last_sent_at = utcnow()


def invite_client(therapist: User, email: str, once_key: str | None = None) -> Invitation:
    """Create an invitation and queue its email. The same form posted again (its one-time key)
    sends nothing and answers as the first did."""
    if not policy.can_invite_clients(therapist):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "invitation_created"):
        return db.session.get(Invitation, once.earlier(therapist, once_key)["id"])
    email = normalise_email(email)
    pending = db.session.scalars(
        policy.visible_invitations(therapist).where(Invitation.email == email)
    ).all()
    if any(inv.is_pending() for inv in pending):
        raise InvitationError(
            "You have already invited this address. Use “Send again” or copy its link below.",
            "email",
        )
    invitation = Invitation(
        therapist_id=therapist.id,
        email=email,
        nonce=secrets.token_urlsafe(24),
        expires_at=utcnow() + current_app.config["INVITATION_LIFETIME"],
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(therapist, "invitation_created", None, invitation)
    _send(invitation)
    once.remember(therapist, once_key, id=invitation.id)
    db.session.commit()
    return invitation


def _has_account(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == email)) is not None


def _send_to_existing_account(invitation: Invitation, therapist_name: str) -> None:
    """The address already has an account: its owner is told, and nothing is set up. The
    therapist reads the same answer as for a new address (whose account it is, or whether
    there is one, is never hers to learn from an invitation)."""
    queue_email(
        invitation.email,
        f"{therapist_name} invites you to Common Ground",
        f"Hello,\n\n{therapist_name} has invited this address to Common Ground. You already have "
        "an account with this address, so there is nothing to set up and nothing has changed in "
        f"it: sign in as usual at\n\n{external_url('accounts.login')}\n\nIf you would like to "
        f"work with {therapist_name} in Common Ground, tell them so; if you did not expect this, "
        "you can ignore this email.\n",
        purpose="invitation",
    )


def _hold(invitation: Invitation) -> None:
    """Hold the invitation's row until commit, read afresh: an acceptance under way (its claim
    is a conditional UPDATE of this row) commits first, and what follows sees it."""
    db.session.scalars(sa.select(Invitation).where(Invitation.id == invitation.id).with_for_update()
                       .execution_options(populate_existing=True)).one()


def resend_invitation(therapist: User, invitation: Invitation) -> None:
    """Email the link again and give it a fresh lifetime."""
    if not policy.can_manage_invitation(therapist, invitation):
        raise Forbidden()
    _hold(invitation)
    if invitation.accepted_at or invitation.revoked_at:
        raise InvitationError("This invitation is no longer open; invite the address again.")
    invitation.expires_at = utcnow() + current_app.config["INVITATION_LIFETIME"]
    _send(invitation)
    audit.record(therapist, "invitation_resent", None, invitation)
    db.session.commit()


def revoke_invitation(therapist: User, invitation: Invitation) -> None:
    """Make the link stop working."""
    if not policy.can_manage_invitation(therapist, invitation):
        raise Forbidden()
    _hold(invitation)
    if invitation.accepted_at:
        raise InvitationError("This invitation was already accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit.record(therapist, "invitation_revoked", None, invitation)
        db.session.commit()


def invitation_for_token(token: str) -> Invitation:
    """The open invitation a link names; InvitationError says what to do when it is not open."""
    try:
        invitation_id, nonce = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise InvitationError("This invitation link is not valid. Please ask your therapist for a new one.") from None
    invitation = db.session.get(Invitation, invitation_id) if isinstance(invitation_id, int) else None
    if invitation is None or not secrets.compare_digest(str(nonce), invitation.nonce):
        raise InvitationError("This invitation link is not valid. Please ask your therapist for a new one.")
    if invitation.accepted_at:
        raise InvitationError("This invitation has already been used. If it was you, sign in with "
                              "your email and password; if you forgot it, reset it.")
    if invitation.revoked_at:
        raise InvitationError("This invitation was withdrawn. Please ask your therapist for a new one.")
    if invitation.expires_at <= utcnow():
        raise InvitationError("This invitation has expired. Please ask your therapist to send it again.")
    return invitation


def accept_invitation(token: str, name: str, password: str) -> User:
    """Create the client's account from an open invitation and sign her in (single use)."""
    invitation = invitation_for_token(token)
    problem = passwords.password_problem(password, email=invitation.email, name=name)
    if problem:
        raise InvitationError(problem, "password")
    if db.session.scalar(sa.select(User.id).where(User.email == invitation.email)):
        raise InvitationError("This email already has a Common Ground account. Please sign in.")
    # Claim the invitation with a conditional update, so two tabs cannot both use it.
    claimed = db.session.execute(
        sa.update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None),
               Invitation.revoked_at.is_(None))
        .values(accepted_at=utcnow())
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise InvitationError("This invitation has already been used.")
    therapist = db.session.get(User, invitation.therapist_id)
    client = User(
        email=invitation.email,
        name=name.strip(),
        role=ROLE_CLIENT,
        therapist_id=invitation.therapist_id,
        timezone=therapist.timezone,
        password_hash=passwords.hash_password(password),
    )
    db.session.add(client)
    db.session.flush()
    invitation.client_id = client.id
    audit.record(client, "invitation_accepted", client, invitation)
    sessions.start_session(client)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvitationError("This email already has a Common Ground account. Please sign in.") from None
    return client
