"""The daily digest: for a person who chose it, one email a day saying how many things are new,
instead of one email per thing. Content-free like every email. Sent by the outbox worker's sweep
(and `flask send-digests`, for cron) once her day has reached DIGEST_HOUR and her quiet hours
allow; at most once per day of her own calendar, however often it runs."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.core.clock import zone_for
from app.extensions import db
from app.models import Notification, User, utcnow
from app.notifications import outbox, quiet_hours

DIGEST_SUBJECT = "Your day in Common Ground"


def digest_body(count: int, link: str) -> str:
    things = "1 new thing" if count == 1 else f"{count} new things"
    return (f"Hello,\n\nYou have {things} in Common Ground since your last summary. For your "
            f"privacy this email says nothing more; sign in to see them:\n\n{link}\n\nYou chose "
            "one email a day; you can change that on your Account page.\n")


def _due(user: User, now: datetime) -> bool:
    """Her digest hour has come today, and today's has not gone yet."""
    local = now.astimezone(zone_for(user))
    if local.hour < current_app.config["DIGEST_HOUR"]:
        return False
    last = user.last_digest_at
    return last is None or last.astimezone(zone_for(user)).date() < local.date()


def send_digests(now: datetime | None = None) -> int:
    """Queue today's digest for everyone it is due for; returns how many were queued."""
    from app.notifications.services import absolute_link

    now = now or utcnow()
    queued = 0
    people = db.session.scalars(sa.select(User).where(
        User.email_digest.is_(True), User.email_notifications.is_(True), User.closed_at.is_(None))).all()
    for user in people:
        if not _due(user, now) or quiet_hours.send_after(user, now) > now:
            continue
        since = user.last_digest_at or now - timedelta(days=1)
        count = db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None),
            Notification.created_at > since))
        # Claim the day first (a second worker running at the same moment finds it taken).
        claimed = db.session.execute(
            sa.update(User).where(User.id == user.id, _same_last(user.last_digest_at))
            .values(last_digest_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed and count:
            outbox.queue_email(user.email, DIGEST_SUBJECT, digest_body(count, absolute_link("/notifications")),
                               purpose="digest", user=user, not_before=now)
            queued += 1
        db.session.commit()
    return queued


def _same_last(last: datetime | None):
    return User.last_digest_at.is_(None) if last is None else User.last_digest_at == last
