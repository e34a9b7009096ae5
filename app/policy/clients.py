"""Clients and invitations: who sees a client, who invites, who gives her tasks."""
from __future__ import annotations

import sqlalchemy as sa

from app.models import ROLE_CLIENT, Invitation, User
from app.policy.base import _signed_in, is_client, is_therapist

# --- clients -------------------------------------------------------------------------------

def can_view_client(user, client: User) -> bool:
    """A client sees herself; a therapist sees her own clients."""
    if not _signed_in(user) or client is None or client.role != ROLE_CLIENT:
        return False
    if user.id == client.id:
        return True
    return is_therapist(user) and client.therapist_id == user.id


def can_export_psychotherapy_notes(user, client: User) -> bool:
    """Psychotherapy notes (clinical notes, private annotations) are kept apart from the record:
    only her own therapist may add them to an export, and only when she chooses to. A client's
    own export never holds them."""
    return is_therapist(user) and can_view_client(user, client)


def visible_clients(user) -> sa.Select:
    """The clients this user may see, as a SELECT to filter, order or page further."""
    query = sa.select(User).where(User.role == ROLE_CLIENT)
    if is_therapist(user):
        return query.where(User.therapist_id == user.id)
    if is_client(user):
        return query.where(User.id == user.id)
    return query.where(sa.false())


# --- invitations ---------------------------------------------------------------------------

def can_invite_clients(user) -> bool:
    return is_therapist(user)


def can_manage_invitation(user, invitation: Invitation) -> bool:
    """Only the therapist who sent an invitation may see, copy, resend or revoke it."""
    return is_therapist(user) and invitation is not None and invitation.therapist_id == user.id


def visible_invitations(user) -> sa.Select:
    query = sa.select(Invitation)
    if is_therapist(user):
        return query.where(Invitation.therapist_id == user.id)
    return query.where(sa.false())



# --- assignments (tasks) ---------------------------------------------------------------------

def can_assign_to(user, client: User) -> bool:
    """A therapist assigns exercises to her own clients whose accounts are open."""
    return (is_therapist(user) and client is not None and client.role == ROLE_CLIENT
            and client.therapist_id == user.id and client.is_active)
