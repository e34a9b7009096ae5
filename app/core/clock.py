"""Time in a person's own zone."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from app.models import utcnow


def zone_for(user) -> ZoneInfo:
    name = getattr(user, "timezone", None) or current_app.config["PRACTICE_TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today_for(user, now: datetime | None = None) -> date:
    """Today's date where this person lives (a task due today is due on her calendar)."""
    return (now or utcnow()).astimezone(zone_for(user)).date()
