"""Caseload queries and the therapist's view of one client."""
from __future__ import annotations

from app import audit, policy
from app.extensions import db
from app.models import Invitation, User


def open_invitations(therapist: User) -> list[Invitation]:
    """Invitations not yet accepted or withdrawn (expired ones included, to resend)."""
    query = (
        policy.visible_invitations(therapist)
        .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at.desc())
    )
    return list(db.session.scalars(query))


def open_client_record(therapist: User, client: User) -> User:
    """The therapist opens a client's page: recorded in the audit trail."""
    audit.record_read(therapist, client, client, action="read_client_page")
    return client
