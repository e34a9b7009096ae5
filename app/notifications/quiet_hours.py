"""Quiet hours: no email or push between two times of a person's own day (the span may run
past midnight). Something new in that span waits in the outbox until it ends."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from app.core.clock import zone_for
from app.models import User, utcnow


def in_quiet_hours(start: time, end: time, moment: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # e.g. 21:00 to 08:00


def send_after(user: User, now: datetime | None = None) -> datetime:
    """The earliest moment a notice to her may go: now, or the end of her quiet hours."""
    now = now or utcnow()
    start, end = user.quiet_from, user.quiet_until
    if start is None or end is None:
        return now
    zone = zone_for(user)
    local = now.astimezone(zone)
    if not in_quiet_hours(start, end, local.time()):
        return now
    ends = datetime.combine(local.date(), end, tzinfo=zone)
    if ends <= local:
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    # A clock change inside the span: whatever the wall clock says, never before now.
    return max(ends.astimezone(now.tzinfo), now)
