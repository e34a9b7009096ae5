"""Closing a client's account when therapy ends: she can no longer sign in; the record stays."""
from __future__ import annotations

from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.accounts import login_sessions
from app.extensions import db
from app.models import User, utcnow


def close_account(therapist: User, client: User) -> None:
    """The client can no longer sign in; her record is kept and can still be exported."""
    if not (policy.is_therapist(therapist) and policy.can_view_client(therapist, client)):
        raise Forbidden()
    if client.closed_at is None:
        client.closed_at = utcnow()
        client.session_token = None
        login_sessions.end_other_sessions(client)
        audit.record(therapist, "account_closed", client, client)
        db.session.commit()
