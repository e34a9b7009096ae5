"""The audit trail, notifications and the devices they are pushed to."""
from __future__ import annotations

import sqlalchemy as sa

from app.models import User
from app.models.delivery import PushSubscription
from app.models.progress import Notification
from app.policy.base import _signed_in, is_client, is_therapist
from app.policy.clients import can_view_client

# --- the audit trail ------------------------------------------------------------------------

def can_view_audit_of(user, client: User) -> bool:
    """A client's audit trail: her own therapist only (a client sees her activity page instead)."""
    return is_therapist(user) and can_view_client(user, client)


def can_view_own_activity(user) -> bool:
    """Who read her record and when: every client, about herself."""
    return is_client(user)


# --- notifications ---------------------------------------------------------------------------

def visible_notifications(user) -> sa.Select:
    """Her own notifications (the list the Notifications page shows)."""
    if not _signed_in(user):
        return sa.select(Notification).where(sa.false())
    return sa.select(Notification).where(Notification.user_id == user.id)


def visible_push_devices(user) -> sa.Select:
    """The devices she turned push on for: hers alone to see and turn off."""
    if not _signed_in(user):
        return sa.select(PushSubscription).where(sa.false())
    return sa.select(PushSubscription).where(PushSubscription.user_id == user.id)


def can_open_notification(user, note) -> bool:
    """A notification is its recipient's alone."""
    return _signed_in(user) and note is not None and note.user_id == user.id
