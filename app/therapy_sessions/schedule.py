"""Sessions scheduled ahead: schedule, move and cancel them, and list what is coming up.

A session is "upcoming" while its start is ahead (policy.is_upcoming); recording one that was
held stays services.record_session. The therapist picks a date and time on her own clock; it is
stored as UTC and everyone reads it on her own clock. Two of her sessions never overlap (a
cancelled one takes no time), and a session whose length is not known counts DEFAULT_MINUTES.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.core.clock import zone_for
from app.extensions import db
from app.models import Pair, TherapySession, User, utcnow
from app.notifications.services import notify
from app.therapy_sessions.services import session_people

DEFAULT_MINUTES = 50     # the usual session, and the length counted when none was given
MIN_MINUTES, MAX_MINUTES = 10, 480
LOCATION_MAX = 500       # a room's address, or a video link (some are long: Teams' are ~300)
AHEAD_DAYS = 731         # at most two years ahead
READ_SCHEDULE = "read_session_schedule"  # the audit row of a read of when and where, not of notes

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?=\S)")  # "https:", "javascript:", not "Office: "
_WEB_LINK = re.compile(r"https?://[^\s/?#@]+(?:[/?#]\S*)?", re.IGNORECASE)


class ScheduleError(Exception):
    """A refusal with a sentence she can act on, and the form field it is about; nothing changed.
    `errors` holds every (field, sentence) found at once; `conflict`: another session holds that
    time (the page answers 409, not 400)."""

    def __init__(self, message: str, field: str | None = None, conflict: bool = False,
                 errors: list[tuple[str | None, str]] | None = None):
        super().__init__(message)
        self.field, self.conflict = field, conflict
        self.errors = errors or [(field, message)]


# --- times and places ------------------------------------------------------------------------

def starts_at_from(therapist: User, day: date, at: time) -> datetime:
    """A date and time on the therapist's clock, as UTC."""
    return datetime.combine(day, at, tzinfo=zone_for(therapist)).astimezone(timezone.utc)


def ends_at(session: TherapySession) -> datetime:
    return session.starts_at + timedelta(minutes=session.duration_minutes or DEFAULT_MINUTES)


def is_video_link(location: str | None) -> bool:
    """A place that is a web address (shown as a link to join); anything else is a place's words."""
    return bool(location) and _WEB_LINK.fullmatch(location) is not None


def clean_location(text: str | None) -> str | None:
    """The place as it is kept: one line, or None. A link must be a web address (http or https):
    "javascript:", "data:" and the like are refused, never stored."""
    text = " ".join((text or "").split())
    if not text:
        return None
    if len(text) > LOCATION_MAX:
        raise ScheduleError(f"Please keep the place or link under {LOCATION_MAX} characters.", "location")
    if re.match(r"https?://\S+\s", text, re.IGNORECASE):
        raise ScheduleError("Put the video link alone in this field, without words or spaces after it.",
                            "location")
    if (_SCHEME.match(text) or text.lower().startswith("www.")) and not is_video_link(text):
        raise ScheduleError("A video link must be a web address that starts with https:// (or http://). "
                            "For a room or an address, write it in words.", "location")
    if is_video_link(text) and not urlsplit(text).hostname:
        raise ScheduleError("That video link has no web address in it. Copy the whole link.", "location")
    return text


def _checked(therapist: User, day: date, at: time, minutes: int | None,
             location: str | None) -> tuple[datetime, int, str | None]:
    """The start (UTC), length and place of a session to schedule, or one ScheduleError saying
    everything that is wrong with them."""
    errors = []
    minutes = DEFAULT_MINUTES if minutes is None else minutes
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        errors.append(("duration_minutes", f"A session lasts between {MIN_MINUTES} and {MAX_MINUTES} minutes."))
    now = utcnow()
    try:
        starts_at = starts_at_from(therapist, day, at)
    except (OverflowError, ValueError):
        starts_at = None
    if starts_at is None or starts_at > now + timedelta(days=AHEAD_DAYS):
        errors.append(("day", "Choose a date within the next two years."))
    elif starts_at <= now:
        errors.append(("time", "That time has already passed: a session scheduled ahead starts later than "
                               "now. To write up a session that took place, use “Record a session”."))
    try:
        location = clean_location(location)
    except ScheduleError as exc:
        errors.extend(exc.errors)
    if errors:
        raise ScheduleError(errors[0][1], errors[0][0], errors=errors)
    return starts_at, minutes, location


class NoLongerChangeable(Exception):
    """The session was cancelled (or began) while this move or cancel waited its turn: nothing
    changed."""


def _hold_her_diary(therapist: User) -> None:
    """Take turns with her other scheduling: two sessions booked at the same moment must not both
    pass the overlap check. PostgreSQL locks her row until commit (FOR NO KEY UPDATE: rows that
    only refer to her, an audit row or a note, do not wait for it, nor deadlock with a hold of
    the session's row); SQLite takes its write lock here (app/core/database.py), one writer at a
    time. The overlap check reads after this."""
    db.session.execute(sa.select(User.id).where(User.id == therapist.id).with_for_update(key_share=True))


def _hold_as_stored(therapist: User, session: TherapySession) -> None:
    """Hold her diary, then read the session again: a move or a cancel that committed while this
    one waited is decided on (NoLongerChangeable, after a rollback), never written over."""
    _hold_her_diary(therapist)
    db.session.refresh(session)
    if not policy.can_change_scheduled_session(therapist, session):
        db.session.rollback()
        raise NoLongerChangeable()


def _refuse_overlap(therapist: User, starts_at: datetime, minutes: int, moving: TherapySession | None = None):
    """ScheduleError (after a rollback) when another of her sessions that is not cancelled
    overlaps this time."""
    ends = starts_at + timedelta(minutes=minutes)
    nearby = db.session.scalars(
        policy.visible_sessions(therapist).where(
            TherapySession.cancelled_at.is_(None),
            TherapySession.starts_at < ends,
            TherapySession.starts_at > starts_at - timedelta(minutes=MAX_MINUTES),
            TherapySession.id != (moving.id if moving is not None else -1))
        .options(joinedload(TherapySession.client), joinedload(TherapySession.pair))
        .order_by(TherapySession.starts_at)).unique().all()
    clash = next((s for s in nearby if ends_at(s) > starts_at), None)
    if clash is None:
        return
    db.session.rollback()
    zone = zone_for(therapist)
    when = (f"{clash.starts_at.astimezone(zone):%a %-d %b, %H:%M}–"
            f"{ends_at(clash).astimezone(zone):%H:%M}")
    raise ScheduleError(f"That time overlaps your session with {people_of(clash)} on {when}. "
                        "Choose another time, or move that session first.", "time", conflict=True)


def people_of(session: TherapySession) -> str:
    """Who a session is with, in the therapist's words: "Maria Lopez", "Maria Lopez & Elena Lopez"."""
    if session.client_id is not None:
        return session.client.name
    return " & ".join(m.user.name for m in session.pair.members)


# --- scheduling, moving, cancelling ------------------------------------------------------------

def schedule_session(therapist: User, who: User | Pair, day: date, at: time, minutes: int | None,
                     location: str | None, once_key: str | None = None) -> TherapySession:
    """Schedule a session ahead with a client or a linked pair. The same form posted again (its
    one-time key) schedules nothing and returns the session it scheduled."""
    if not policy.can_schedule_session_for(therapist, who):
        raise Forbidden()
    starts_at, minutes, location = _checked(therapist, day, at, minutes, location)
    if not once.first_time(therapist, once_key, "session_scheduled"):
        return db.session.get(TherapySession, once.earlier(therapist, once_key)["id"])
    _hold_her_diary(therapist)
    _refuse_overlap(therapist, starts_at, minutes)
    session = TherapySession(
        therapist_id=therapist.id, starts_at=starts_at, duration_minutes=minutes, location=location,
        client_id=who.id if isinstance(who, User) else None,
        pair_id=who.id if isinstance(who, Pair) else None)
    db.session.add(session)
    db.session.flush()
    audit.record(therapist, "session_scheduled", who if isinstance(who, User) else None, session)
    _tell(session, "session_scheduled")
    once.remember(therapist, once_key, id=session.id)
    db.session.commit()
    return session


def reschedule_session(therapist: User, session: TherapySession, day: date, at: time,
                       minutes: int | None, location: str | None) -> bool:
    """Move a session that has not started, change its length or its place. False: nothing
    differed, nothing was written. NoLongerChangeable: it was cancelled meanwhile."""
    if not policy.can_change_scheduled_session(therapist, session):
        raise Forbidden()
    starts_at, minutes, location = _checked(therapist, day, at, minutes, location)
    _hold_as_stored(therapist, session)
    if (starts_at, minutes, location) == (session.starts_at, session.duration_minutes, session.location):
        db.session.rollback()  # let go of her diary
        return False
    _refuse_overlap(therapist, starts_at, minutes, moving=session)
    session.starts_at, session.duration_minutes, session.location = starts_at, minutes, location
    audit.record(therapist, "session_rescheduled", session.client, session)
    _tell(session, "session_moved")
    db.session.commit()
    return True


def cancel_session(therapist: User, session: TherapySession) -> None:
    """Cancel a session that has not started: it stays listed, struck through, for everyone."""
    if not policy.can_change_scheduled_session(therapist, session):
        raise Forbidden()
    _hold_as_stored(therapist, session)  # a second cancel, or a move, waits and then sees this one
    session.cancelled_at = utcnow()
    audit.record(therapist, "session_cancelled", session.client, session)
    _tell(session, "session_cancelled")
    db.session.commit()


def open_for_change(therapist: User, session: TherapySession) -> None:
    """The move and cancel pages show when and where a session is, and with whom: a read of
    each person's record, audited (as a read of its time and place, not of its notes)."""
    audit.record_reads(therapist, [(person, session) for person in session_people(session)], READ_SCHEDULE)


def _tell(session: TherapySession, kind: str) -> None:
    """Each person the session is with learns of it in the app (and by email or push, as she
    chose), in the same transaction; the notice leads to her sessions page, never says when."""
    for person in session_people(session):
        notify(person, kind, "/sessions")


@dataclass(frozen=True)
class Suggestion:
    """What the scheduling form starts from: the same time as the latest session, a week on."""

    day: date
    at: time
    minutes: int
    location: str | None


def suggested_slot(therapist: User, who: User | Pair) -> Suggestion | None:
    """Most sessions are "same time next week": the time, length and place of her latest session
    with this client alone (or this pair) that was not cancelled, on the first week after it that
    is still ahead. None when there was none. Reading it is a read of their record: audited."""
    if not policy.can_schedule_session_for(therapist, who):
        raise Forbidden()
    with_them = (TherapySession.pair_id == who.id) if isinstance(who, Pair) else \
        (TherapySession.client_id == who.id)
    latest = db.session.scalar(policy.visible_sessions(therapist).where(
        with_them, TherapySession.cancelled_at.is_(None))
        .order_by(TherapySession.starts_at.desc(), TherapySession.id.desc()).limit(1))
    if latest is None:
        return None
    audit.record_reads(therapist, [(person, latest) for person in session_people(latest)], READ_SCHEDULE)
    local = latest.starts_at.astimezone(zone_for(therapist))
    at = local.time().replace(second=0, microsecond=0, tzinfo=None)
    day, now = local.date() + timedelta(days=7), utcnow()
    today = now.astimezone(zone_for(therapist)).date()
    if day < today:  # weeks ago: the same weekday, the first one from today
        day += timedelta(days=7 * -(-(today - day).days // 7))
    if starts_at_from(therapist, day, at) <= now:  # today, but the hour has passed
        day += timedelta(days=7)
    return Suggestion(day, at, latest.duration_minutes or DEFAULT_MINUTES, latest.location)
