"""Jinja filters and globals: time in the reader's zone, paragraphs, the policy functions."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user
from markupsafe import Markup, escape

from app import policy
from app.core.clock import zone_for
from app.homework.families import family_name


def user_zone() -> ZoneInfo:
    return zone_for(current_user)


def localtime(value: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    """A UTC datetime shown in the reader's own time zone."""
    if value is None:
        return ""
    return value.astimezone(user_zone()).strftime(fmt)


def isotime(value: datetime | None) -> str:
    """A time for a <time datetime> attribute: UTC in ISO 8601 to the second (HTML accepts at
    most three digits of a fraction, so the microseconds are dropped)."""
    if value is None:
        return ""
    if value.tzinfo is None:  # a stored UTC time without its offset
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def localdate(value: date | datetime | None, fmt: str = "%a %-d %b %Y") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(user_zone())
    return value.strftime(fmt)


def from_iso(value: str | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    """An ISO 8601 time (as an export stores it) shown as people read it, in the reader's zone."""
    if not value:
        return ""
    if "T" not in value:  # a calendar date (a due date): the same day in every zone
        return date.fromisoformat(value).strftime(fmt)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # a stored UTC time without its offset
        parsed = parsed.replace(tzinfo=timezone.utc)
    return localtime(parsed, fmt)


def paragraphs(text: str | None) -> Markup:
    """Plain text shown as paragraphs; anything that looks like HTML stays text."""
    if not text:
        return Markup("")
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("".join(
        "<p>" + str(escape(block)).replace("\n", Markup("<br>")) + "</p>" for block in blocks
    ))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["localdate"] = localdate
    app.jinja_env.filters["isotime"] = isotime
    app.jinja_env.filters["paragraphs"] = paragraphs
    app.jinja_env.filters["from_iso"] = from_iso
    app.jinja_env.globals.update(policy.JINJA_GLOBALS)
    app.jinja_env.globals["family_name"] = family_name

    @app.context_processor
    def practice():
        # The sign-out button posts the page's CSRF token (base.html writes it itself: a whole
        # form object built on every page for one hidden field cost more than the field).
        from app.notifications.services import unread_count
        return {
            "unread_notifications": (unread_count(current_user)
                                     if current_user.is_authenticated else 0),
            "practice_name": app.config["PRACTICE_NAME"],
            "crisis_text": app.config["CRISIS_TEXT"],
        }
