"""A therapist's calendar subscription: her sessions as an iCalendar feed (RFC 5545) at a secret
address her calendar (Google, Apple, Outlook) fetches by itself.

The secret is in the address and nowhere else: only its SHA-256 is kept (users.
calendar_token_hash), so it is shown once, when made; making a new one ends the old one. The feed
tells a calendar service, which keeps a copy, as little as it can: initials unless she chooses
names; the place only with names; never a video link (it lets anyone into the call) and never a
note. Each fetch writes an audit row (who fetched is her calendar; the token is never logged:
app/web/log_hygiene.py redacts it from request lines).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.models import AuditEvent, TherapySession, User, utcnow
from app.therapy_sessions.schedule import ends_at, is_video_link

PAST_DAYS = 90          # how far back the feed reaches: recent history, not years of it
AHEAD_DAYS = 400        # and forward
MOST_EVENTS = 2000
REFRESH = timedelta(hours=1)  # how often calendars are asked to fetch again (many fetch less often)
TOKEN_BYTES = 32              # 256 random bits: guessing is out of the question
FETCHED, MADE = "calendar_feed_read", "calendar_address_made"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# --- her subscription ----------------------------------------------------------------------------

def new_address(therapist: User, once_key: str | None = None) -> str | None:
    """Make her calendar address (or a new one: the old one stops at once) and return its secret,
    which is not kept. The same form posted again makes nothing and returns None."""
    if not policy.can_manage_calendar_feed(therapist):
        raise Forbidden()
    if not once.first_time(therapist, once_key, MADE):
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    renewed = therapist.calendar_token_hash is not None
    therapist.calendar_token_hash = token_hash(token)
    audit.record(therapist, "calendar_address_renewed" if renewed else MADE, None, None)
    db.session.commit()
    return token


def revoke(therapist: User) -> bool:
    """End her calendar address; False when she had none."""
    if not policy.can_manage_calendar_feed(therapist):
        raise Forbidden()
    if therapist.calendar_token_hash is None:
        return False
    therapist.calendar_token_hash = None
    audit.record(therapist, "calendar_address_revoked", None, None)
    db.session.commit()
    return True


def show_names(therapist: User, names: bool) -> None:
    """Names and places, or initials only, in what her calendar receives."""
    if not policy.can_manage_calendar_feed(therapist):
        raise Forbidden()
    if therapist.calendar_shows_names == names:
        return
    therapist.calendar_shows_names = names
    audit.record(therapist, "calendar_shows_names" if names else "calendar_shows_initials", None, None)
    db.session.commit()


def status(therapist: User) -> dict:
    """For her page: whether an address works, when it was last made and last fetched."""
    if not policy.can_manage_calendar_feed(therapist):
        raise Forbidden()
    made_actions = (MADE, "calendar_address_renewed")
    last = dict(db.session.execute(
        sa.select(AuditEvent.action, sa.func.max(AuditEvent.at))
        .where(AuditEvent.actor_id == therapist.id, AuditEvent.action.in_((*made_actions, FETCHED)))
        .group_by(AuditEvent.action)).all())
    made = max((last[a] for a in made_actions if a in last), default=None)
    fetched = last.get(FETCHED)
    active = therapist.calendar_token_hash is not None
    return {"active": active, "made_at": made if active else None,
            "fetched_at": fetched if active and fetched and made and fetched >= made else None}


# --- the feed ------------------------------------------------------------------------------------

def therapist_for(token: str) -> User | None:
    """The therapist whose calendar address holds this secret, or None. Found by its hash: no
    comparison with the secret itself, so its timing tells nothing."""
    if not token or len(token) > 200:
        return None
    therapist = db.session.scalar(sa.select(User).where(User.calendar_token_hash == token_hash(token)))
    if therapist is None or not policy.is_therapist(therapist):
        return None
    return therapist


def initials(name: str) -> str:
    """ "Maria Lopez" -> "M.L."; the first and last words that start with a letter."""
    words = [w for w in (name or "").split() if w[:1].isalpha()]
    if not words:
        return "?"
    chosen = words[:1] + words[1:][-1:]
    return "".join(f"{w[0].upper()}." for w in chosen)


def _summary(session: TherapySession, names: bool) -> str:
    show = (lambda user: user.name) if names else (lambda user: initials(user.name))
    if session.client_id is not None:
        title = f"Session — {show(session.client)}"
    else:
        title = "Pair session — " + " & ".join(show(m.user) for m in session.pair.members)
    return f"Cancelled: {title}" if session.cancelled_at else title


def feed(therapist: User, link_for) -> bytes:
    """Her sessions from PAST_DAYS ago to AHEAD_DAYS ahead as an iCalendar document. `link_for`
    gives a session's page in the app (for her; it asks her to sign in). Audited."""
    now = utcnow()
    sessions = db.session.scalars(
        policy.visible_sessions(therapist)
        .where(TherapySession.starts_at >= now - timedelta(days=PAST_DAYS),
               TherapySession.starts_at <= now + timedelta(days=AHEAD_DAYS))
        .options(joinedload(TherapySession.client), joinedload(TherapySession.pair))
        .order_by(TherapySession.starts_at).limit(MOST_EVENTS)).unique().all()
    names = therapist.calendar_shows_names
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Common Ground//Therapy sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", "Common Ground sessions")
    calendar.add("x-wr-calname", "Common Ground sessions")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH).to_ical().decode())  # Outlook's
    for session in sessions:
        event = icalendar.Event()
        link = link_for(session)
        # Unique to this practice's address, stable from one fetch to the next.
        event.add("uid", f"session-{session.id}@{urlsplit(link).hostname or 'common-ground'}")
        # When this copy was made (RFC 5545, for a published feed): a session moved since the
        # last fetch keeps its UID, and a calendar that compares stamps must not keep the old time.
        event.add("dtstamp", now)
        event.add("dtstart", session.starts_at)
        event.add("dtend", ends_at(session))
        event.add("summary", _summary(session, names))
        event.add("status", "CANCELLED" if session.cancelled_at else "CONFIRMED")
        event.add("transp", "TRANSPARENT" if session.cancelled_at else "OPAQUE")
        event.add("class", "PRIVATE")
        event.add("url", link)
        if is_video_link(session.location):
            where = "Video call: the link is in Common Ground."
        elif session.location and names:
            event.add("location", session.location)
            where = None
        else:
            where = None
        event.add("description", "\n".join(filter(None, [where, f"Details in Common Ground: {link}"])))
        calendar.add_component(event)
    audit.record_reads(therapist, [(None, None)], FETCHED)
    return calendar.to_ical()
