"""Closing a client's account when therapy ends: she can no longer sign in; the record stays."""
from __future__ import annotations

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.accounts import login_sessions
from app.accounts.services import hold_account
from app.extensions import db
from app.models import PushSubscription, User, utcnow


def close_account(therapist: User, client: User) -> None:
    """The client can no longer sign in; her record is kept and can still be exported."""
    if not (policy.is_therapist(therapist) and policy.can_view_client(therapist, client)):
        raise Forbidden()
    # Closed twice at once (a double submit, two therapists' tabs): the second waits here for
    # the first and finds her closed; a sign-in or reset of hers waits likewise (they hold it too).
    hold_account(client)
    if client.closed_at is None:
        client.closed_at = utcnow()
        client.session_token = None
        login_sessions.end_other_sessions(client)
        # Her devices are told nothing more (what the outbox still holds for her is dropped).
        db.session.execute(sa.delete(PushSubscription).where(PushSubscription.user_id == client.id))
        from app.messages.threads import retract_pair_thread_notices  # messages imports accounts
        retract_pair_thread_notices(client)
        # Notes she had begun and not added: a draft is hers alone, and she is gone.
        from app.therapy_sessions.note_drafts import discard_drafts_of
        discard_drafts_of(client)
        audit.record(therapist, "account_closed", client, client)
        db.session.commit()
    else:
        db.session.rollback()  # closed already (a double submit): the hold ends here
