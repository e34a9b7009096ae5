"""Progress services: ratings over time, weekly counts, streaks, trend, timeline, dashboard."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import policy
from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    ROLE_CLIENT,
    TASK_OPEN,
    Assignment,
    Feedback,
    Reflection,
    TherapySession,
    User,
    utcnow,
)

WEEKS_SHOWN = 12
MAX_POINTS = 500
TREND_DAYS = 28
TREND_THRESHOLD = 1.0  # a change of at least one point on the 0-10 scale


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
    """Resentment over the last four weeks: the last two weeks' mean against the two before."""
    recent = [v for t, v in points if v is not None and now - timedelta(days=14) <= t <= now]
    before = [v for t, v in points if v is not None
              and now - timedelta(days=TREND_DAYS) <= t < now - timedelta(days=14)]
    if not recent or not before:
        return None
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
        .where(Reflection.author_id == client.id, Reflection.status == REFLECTION_SUBMITTED)
        .order_by(Reflection.submitted_at.desc()).limit(MAX_POINTS)
    ).all()
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
    """Tasks given, reflections sent, feedback written and sessions held, newest first."""
    if not policy.is_therapist(therapist) or not policy.can_view_client(therapist, client):
        raise Forbidden()
    events = []
    for task in db.session.scalars(
        policy.visible_assignments(therapist).where(Assignment.client_id == client.id)
        .order_by(Assignment.created_at.desc()).limit(TIMELINE_LIMIT)
    ):
        events.append({"at": task.created_at, "kind": "task", "title": task.title, "task_id": task.id})
    for reflection, title in db.session.execute(
        sa.select(Reflection, Assignment.title).join(Reflection.assignment)
        .where(Assignment.therapist_id == therapist.id, Reflection.author_id == client.id,
               Reflection.status == REFLECTION_SUBMITTED)
        .order_by(Reflection.submitted_at.desc()).limit(TIMELINE_LIMIT)
    ):
        events.append({"at": reflection.submitted_at, "kind": "reflection", "title": title,
                       "reflection_id": reflection.id, "urgent": reflection.urgent})
    for feedback, reflection_id, title in db.session.execute(
        sa.select(Feedback, Reflection.id, Assignment.title).join(Reflection, Feedback.reflection_id == Reflection.id)
        .join(Reflection.assignment)
        .where(Assignment.therapist_id == therapist.id, Reflection.author_id == client.id)
        .order_by(Feedback.created_at.desc()).limit(TIMELINE_LIMIT)
    ):
        events.append({"at": feedback.created_at, "kind": "feedback", "title": title,
                       "reflection_id": reflection_id})
    from app.models import PairMember
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    for session in db.session.scalars(
        policy.visible_sessions(therapist)
        .where(sa.or_(TherapySession.client_id == client.id, TherapySession.pair_id.in_(pair_ids)))
        .order_by(TherapySession.starts_at.desc()).limit(TIMELINE_LIMIT)
    ):
        events.append({"at": session.starts_at, "kind": "session", "session_id": session.id,
                       "pair": session.pair_id is not None})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:TIMELINE_LIMIT]


# --- the caseload dashboard -------------------------------------------------------------------

DASHBOARD_PER_PAGE = 25
SORTS = {"name", "activity", "overdue", "unreviewed"}


@dataclass
class DashboardRow:
    client: User
    last_activity: datetime | None
    open_tasks: int
    overdue: int
    unreviewed: int
    urgent: int
    trend: str | None = None


@dataclass
class Dashboard:
    rows: list
    total: int
    page: int
    pages: int
    sort: str
    query: str
    attention: bool


def dashboard(therapist: User, today: date, *, sort: str = "name", query: str = "",
              attention: bool = False, page: int = 1) -> Dashboard:
    """Every client with last activity, open and overdue tasks, unreviewed and urgent
    reflections and a resentment trend: three queries whatever the caseload's size."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    sort = sort if sort in SORTS else "name"
    tasks = (sa.select(Assignment.client_id,
                       sa.func.count().filter(Assignment.status == TASK_OPEN).label("open_tasks"),
                       sa.func.count().filter(Assignment.status == TASK_OPEN,
                                              Assignment.due_date < today).label("overdue"))
             .where(Assignment.therapist_id == therapist.id).group_by(Assignment.client_id).subquery())
    refl = (sa.select(Reflection.author_id,
                      sa.func.max(sa.func.coalesce(Reflection.submitted_at, Reflection.draft_saved_at))
                      .label("last_activity"),
                      sa.func.count().filter(Reflection.status == REFLECTION_SUBMITTED,
                                             Reflection.reviewed_at.is_(None)).label("unreviewed"),
                      sa.func.count().filter(Reflection.status == REFLECTION_SUBMITTED,
                                             Reflection.reviewed_at.is_(None),
                                             Reflection.urgent.is_(True)).label("urgent"))
            .join(Reflection.assignment).where(Assignment.therapist_id == therapist.id)
            .group_by(Reflection.author_id).subquery())
    open_tasks = sa.func.coalesce(tasks.c.open_tasks, 0)
    overdue = sa.func.coalesce(tasks.c.overdue, 0)
    unreviewed = sa.func.coalesce(refl.c.unreviewed, 0)
    urgent = sa.func.coalesce(refl.c.urgent, 0)
    select = (sa.select(User, refl.c.last_activity, open_tasks, overdue, unreviewed, urgent)
              .outerjoin(tasks, tasks.c.client_id == User.id)
              .outerjoin(refl, refl.c.author_id == User.id)
              .where(User.role == ROLE_CLIENT, User.therapist_id == therapist.id))
    if query.strip():
        needle = query.strip().lower()[:100]  # literally: % and _ are no wildcards here
        select = select.where(sa.or_(sa.func.lower(User.name).contains(needle, autoescape=True),
                                     sa.func.lower(User.email).contains(needle, autoescape=True)))
    if attention:
        select = select.where(sa.or_(overdue > 0, urgent > 0))
    order = {
        "name": [sa.func.lower(User.name)],
        "activity": [refl.c.last_activity.is_(None), refl.c.last_activity.desc()],
        "overdue": [overdue.desc(), sa.func.lower(User.name)],
        "unreviewed": [urgent.desc(), unreviewed.desc(), sa.func.lower(User.name)],
    }[sort]
    total = db.session.scalar(sa.select(sa.func.count()).select_from(select.subquery()))
    pages = max(1, -(-total // DASHBOARD_PER_PAGE))
    page = min(max(page, 1), pages)
    rows = [DashboardRow(*r) for r in db.session.execute(
        select.order_by(*order, User.id).limit(DASHBOARD_PER_PAGE).offset((page - 1) * DASHBOARD_PER_PAGE))]
    _add_trends(rows)
    return Dashboard(rows, total, page, pages, sort, query, attention)


def _add_trends(rows: list[DashboardRow]) -> None:
    """One query for the page's clients: their resentment over the last four weeks."""
    if not rows:
        return
    now = utcnow()
    by_client: dict[int, list] = {row.client.id: [] for row in rows}
    for author_id, submitted_at, resentment in db.session.execute(
        sa.select(Reflection.author_id, Reflection.submitted_at, Reflection.resentment)
        .where(Reflection.author_id.in_(list(by_client)), Reflection.status == REFLECTION_SUBMITTED,
               Reflection.submitted_at >= now - timedelta(days=TREND_DAYS))
    ):
        by_client[author_id].append((submitted_at, resentment))
    for row in rows:
        row.trend = resentment_trend(by_client[row.client.id], now)
