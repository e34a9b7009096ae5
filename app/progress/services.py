"""Progress services: ratings over time, weekly counts, streaks, trend, timeline (the caseload
dashboard is in dashboard.py)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import policy
from app.core.clock import today_for, zone_for
from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    ROLE_THERAPIST,
    Assignment,
    Feedback,
    PairMember,
    Reflection,
    TherapySession,
    User,
    utcnow,
)

WEEKS_SHOWN = 12
MAX_POINTS = 500
TREND_DAYS = 28
TREND_THRESHOLD = 1.0  # a change of at least one point on the 0-10 scale
TREND_MIN_RATINGS = 3  # within one half of the window: earlier against later needs this many


@dataclass
class Progress:
    points: list = field(default_factory=list)  # (submitted_at, resentment, closeness, stayed_present)
    weekly: list = field(default_factory=list)  # (monday, reflections sent that week)
    streak: int = 0          # most recent reflections in a row where she stayed present
    longest_streak: int = 0
    trend: str | None = None  # "falling", "rising", "steady" or None (too little data)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def present_streaks(values: list[str | None]) -> tuple[int, int]:
    """(current, longest) runs of 'yes', oldest first in `values`."""
    current = longest = 0
    for value in values:
        current = current + 1 if value == "yes" else 0
        longest = max(longest, current)
    return current, longest


def weekly_counts(days: list[date], today: date, weeks: int = WEEKS_SHOWN) -> list[tuple[date, int]]:
    """How many reflections were sent in each of the last `weeks` weeks (Monday first)."""
    start = monday_of(today) - timedelta(weeks=weeks - 1)
    counts = {start + timedelta(weeks=i): 0 for i in range(weeks)}
    for day in days:
        week = monday_of(day)
        if week in counts:
            counts[week] += 1
    return sorted(counts.items())


def resentment_trend(points: list[tuple[datetime, int]], now: datetime) -> str | None:
    """Resentment over the last four weeks: the last two weeks' mean against the two before.
    When all her recent ratings fall in one of those halves (a client who writes often and
    started lately), her earlier ratings against her later ones, given TREND_MIN_RATINGS."""
    window = sorted((t, v) for t, v in points
                    if v is not None and now - timedelta(days=TREND_DAYS) <= t <= now)
    recent = [v for t, v in window if t >= now - timedelta(days=14)]
    before = [v for t, v in window if t < now - timedelta(days=14)]
    if not recent or not before:
        if len(window) < TREND_MIN_RATINGS:
            return None
        half = len(window) // 2  # the middle rating of an odd count belongs to neither half
        before = [v for _, v in window[:half]]
        recent = [v for _, v in window[-half:]]
    change = sum(recent) / len(recent) - sum(before) / len(before)
    if change <= -TREND_THRESHOLD:
        return "falling"
    if change >= TREND_THRESHOLD:
        return "rising"
    return "steady"


def progress_for(client: User, today: date, zone) -> Progress:
    """One query: her sent reflections' ratings, oldest first (the latest MAX_POINTS)."""
    rows = db.session.execute(
        sa.select(Reflection.submitted_at, Reflection.resentment, Reflection.closeness,
                  Reflection.stayed_present)
        .where(Reflection.author_id == client.id, Reflection.status == REFLECTION_SUBMITTED,
               Reflection.deleted_at.is_(None))
        .order_by(Reflection.submitted_at.desc()).limit(MAX_POINTS)
    ).all()
    return _progress(rows, today, zone)


def progress_of_each(clients: list[User]) -> dict[int, Progress]:
    """progress_for() of several clients (a pair's members) in one query: each one's latest
    MAX_POINTS sent reflections, numbered per author by a window function."""
    ranked = (
        sa.select(Reflection.author_id, Reflection.submitted_at, Reflection.resentment,
                  Reflection.closeness, Reflection.stayed_present,
                  sa.func.row_number().over(partition_by=Reflection.author_id,
                                            order_by=Reflection.submitted_at.desc()).label("n"))
        .where(Reflection.author_id.in_([c.id for c in clients]),
               Reflection.status == REFLECTION_SUBMITTED, Reflection.deleted_at.is_(None))
        .subquery()
    )
    by_author: dict[int, list] = {c.id: [] for c in clients}
    for row in db.session.execute(
        sa.select(ranked).where(ranked.c.n <= MAX_POINTS).order_by(ranked.c.author_id, ranked.c.n)
    ):
        by_author[row.author_id].append((row.submitted_at, row.resentment, row.closeness,
                                         row.stayed_present))
    return {c.id: _progress(by_author[c.id], today_for(c), zone_for(c)) for c in clients}


def _progress(rows, today: date, zone) -> Progress:
    """Newest-first ratings rows made into her chart's points, weeks, streaks and trend."""
    # In her own zone: the chart's dates and weeks are the days on her calendar.
    points = [(r[0].astimezone(zone), r[1], r[2], r[3]) for r in reversed(rows)]
    streak, longest = present_streaks([p[3] for p in points])
    return Progress(
        points=points,
        weekly=weekly_counts([p[0].date() for p in points], today),
        streak=streak, longest_streak=longest,
        trend=resentment_trend([(p[0], p[1]) for p in points], utcnow()),
    )


# --- the therapist's timeline of one client ---------------------------------------------------

TIMELINE_LIMIT = 60


def timeline(therapist: User, client: User) -> list[dict]:
    """Tasks given, reflections sent, feedback written and sessions held, newest first: one
    query (a UNION ALL of the four, each row shaped alike)."""
    if not policy.is_therapist(therapist) or not policy.can_view_client(therapist, client):
        raise Forbidden()
    rows = db.session.execute(_timeline_statement(), {"therapist_id": therapist.id, "client_id": client.id,
                                                      "now": utcnow()}).mappings().all()
    return [_timeline_event(row) for row in rows]


@functools.cache
def _timeline_statement() -> sa.Select:
    """Built once (every client page asks it), for any therapist and client: their ids and the
    time are bound when it runs."""
    therapist = policy.Viewer(ROLE_THERAPIST, "therapist_id")
    client_id, now = sa.bindparam("client_id"), sa.bindparam("now")
    none_int, none_text, none_bool = (sa.cast(sa.null(), sa.Integer), sa.cast(sa.null(), sa.String),
                                      sa.cast(sa.null(), sa.Boolean))

    def shaped(kind, at, title, task_id, reflection_id, urgent, session_id, pair_id):
        return (sa.literal(kind).label("kind"), at.label("at"), title.label("title"),
                task_id.label("task_id"), reflection_id.label("reflection_id"),
                urgent.label("urgent"), session_id.label("session_id"), pair_id.label("pair_id"))

    tasks = policy.visible_assignments(therapist).where(Assignment.client_id == client_id)
    reflections = tasks.join(Reflection, Reflection.assignment_id == Assignment.id).where(
        Reflection.author_id == client_id, Reflection.status == REFLECTION_SUBMITTED,
        Reflection.deleted_at.is_(None))
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client_id)
    events = sa.union_all(
        tasks.with_only_columns(*shaped("task", Assignment.created_at, Assignment.title, Assignment.id,
                                        none_int, none_bool, none_int, none_int)),
        reflections.with_only_columns(*shaped("reflection", Reflection.submitted_at, Assignment.title,
                                              none_int, Reflection.id, Reflection.urgent, none_int,
                                              none_int)),
        reflections.join(Feedback, Feedback.reflection_id == Reflection.id).with_only_columns(
            *shaped("feedback", Feedback.created_at, Assignment.title, none_int, Reflection.id,
                    none_bool, none_int, none_int)),
        policy.visible_sessions(therapist)  # held: not one ahead, not one cancelled
        .where(sa.or_(TherapySession.client_id == client_id, TherapySession.pair_id.in_(pair_ids)),
               TherapySession.starts_at <= now, TherapySession.cancelled_at.is_(None))
        .with_only_columns(*shaped("session", TherapySession.starts_at, none_text, none_int,
                                   none_int, none_bool, TherapySession.id, TherapySession.pair_id)),
    ).subquery()
    return sa.select(events).order_by(events.c.at.desc()).limit(TIMELINE_LIMIT)


def _timeline_event(row) -> dict:
    event = {"at": row["at"], "kind": row["kind"]}
    if row["kind"] == "task":
        event.update(title=row["title"], task_id=row["task_id"])
    elif row["kind"] == "reflection":
        event.update(title=row["title"], reflection_id=row["reflection_id"], urgent=bool(row["urgent"]))
    elif row["kind"] == "feedback":
        event.update(title=row["title"], reflection_id=row["reflection_id"])
    else:
        event.update(session_id=row["session_id"], pair=row["pair_id"] is not None)
    return event
