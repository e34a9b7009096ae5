"""The caseload dashboard: her clients with last activity, open and overdue tasks, reflections to
review and urgent ones, and a resentment trend. The database sorts, filters and pages; a request
holds one page of plain rows, whatever the caseload's size."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import NamedTuple

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import policy
from app.core import paging
from app.extensions import db
from app.models import REFLECTION_SUBMITTED, ROLE_CLIENT, TASK_OPEN, Assignment, Reflection, User, utcnow
from app.progress.services import TREND_DAYS, resentment_trend

DASHBOARD_PER_PAGE = 25
SORTS = {"name", "activity", "overdue", "unreviewed"}


class ClientLabel(NamedTuple):
    """What a row shows of the client (no account loaded for it)."""

    id: int
    name: str
    closed_at: datetime | None


@dataclass
class DashboardRow:
    client: ClientLabel
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


# --- the statements, built once per shape (sort, filter, search) with their values bound ------

_THERAPIST = sa.bindparam("therapist_id", type_=sa.Integer)
_NEEDLE = sa.bindparam("needle", type_=sa.String)
ESCAPE = "/"


def _needle(query: str) -> str:
    """The search words taken literally (% and _ are no wildcards here), lower case."""
    needle = query.strip().lower()[:100]
    for char in (ESCAPE, "%", "_"):
        needle = needle.replace(char, ESCAPE + char)
    return needle


def _matching(searching: bool) -> list:
    """Her clients, found by name or email when she searches."""
    conditions = [User.role == ROLE_CLIENT, User.therapist_id == _THERAPIST]
    if searching:
        conditions.append(sa.or_(sa.func.lower(User.name).contains(_NEEDLE, escape=ESCAPE),
                                 sa.func.lower(User.email).contains(_NEEDLE, escape=ESCAPE)))
    return conditions


def _figures(client_id) -> dict:
    """Each figure of one client as a subquery of its own, which the database answers from an
    index on that client's rows (the page's clients, or every client when a figure sorts)."""
    def tasks(*conditions):
        return (sa.select(sa.func.count()).select_from(Assignment)
                .where(Assignment.client_id == client_id, Assignment.therapist_id == _THERAPIST,
                       Assignment.deleted_at.is_(None), Assignment.status == TASK_OPEN, *conditions)
                .scalar_subquery())

    def reflections(*conditions):
        return (sa.select(sa.func.count()).select_from(Reflection).join(Reflection.assignment)
                .where(Reflection.author_id == client_id, Assignment.therapist_id == _THERAPIST,
                       Reflection.deleted_at.is_(None), Reflection.status == REFLECTION_SUBMITTED,
                       Reflection.reviewed_at.is_(None), *conditions)
                .scalar_subquery())

    # Sent reflections only: a draft is its author's alone, even its time (a sent one is never a
    # draft again, so her latest sent one is the first in the index, newest first).
    last_activity = (sa.select(Reflection.submitted_at).join(Reflection.assignment)
                     .where(Reflection.author_id == client_id, Assignment.therapist_id == _THERAPIST,
                            Reflection.deleted_at.is_(None), Reflection.status == REFLECTION_SUBMITTED,
                            Reflection.submitted_at.is_not(None))
                     .order_by(Reflection.submitted_at.desc()).limit(1).scalar_subquery())
    return {
        "last_activity": last_activity,
        "open_tasks": tasks(),
        "overdue": tasks(Assignment.due_date < sa.bindparam("today", type_=sa.Date)),
        "unreviewed": reflections(),
        "urgent": reflections(Reflection.urgent.is_(True)),
    }


FIGURES = ("last_activity", "open_tasks", "overdue", "unreviewed", "urgent")


@cache
def _page_statement(sort: str, attention: bool, searching: bool) -> sa.Select:
    """One page of rows with the total: (id, name, closed_at, the figures..., total)."""
    by_name = lambda c: [sa.func.lower(c.name), c.id]  # noqa: E731
    limit, offset = sa.bindparam("limit", type_=sa.Integer), sa.bindparam("offset", type_=sa.Integer)
    if sort == "name" and not attention:
        # Her page of clients first, then the figures of those alone: the same cost whatever
        # the caseload's size.
        page = (sa.select(User.id, User.name, User.closed_at).where(*_matching(searching))
                .order_by(*by_name(User)).limit(limit).offset(offset).subquery("page"))
        figures = _figures(page.c.id)
        total = sa.select(sa.func.count()).select_from(User).where(*_matching(searching)).scalar_subquery()
        return (sa.select(page.c.id, page.c.name, page.c.closed_at,
                          *(figures[name].label(name) for name in FIGURES), total.label("total"))
                .order_by(*by_name(page.c)))
    # The other sorts and the filter choose the page by the figures: every client's figures
    # (each from an index), then the database sorts them and keeps one page.
    clients = (sa.select(User.id, User.name, User.closed_at,
                         *(figure.label(name) for name, figure in _figures(User.id).items()))
               .where(*_matching(searching)).subquery("clients"))
    c = clients.c
    order = {
        "name": [],
        "activity": [c.last_activity.desc().nulls_last()],  # no activity yet: last
        "overdue": [c.overdue.desc()],
        "unreviewed": [c.urgent.desc(), c.unreviewed.desc()],
    }[sort] + by_name(c)
    select = sa.select(c.id, c.name, c.closed_at, *(c[name] for name in FIGURES),
                       sa.func.count().over().label("total"))
    if attention:
        select = select.where(sa.or_(c.overdue > 0, c.urgent > 0))
    return select.order_by(*order).limit(limit).offset(offset)


@cache
def _count_statement(searching: bool) -> sa.Select:
    return sa.select(sa.func.count()).select_from(User).where(*_matching(searching))


_TREND_POINTS = (
    sa.select(Reflection.author_id, Reflection.submitted_at, Reflection.resentment)
    .where(Reflection.author_id.in_(sa.bindparam("client_ids", expanding=True)),
           Reflection.status == REFLECTION_SUBMITTED, Reflection.deleted_at.is_(None),
           Reflection.submitted_at >= sa.bindparam("since"))
)


def dashboard(therapist: User, today: date, *, sort: str = "name", query: str = "",
              attention: bool = False, page: int = 1) -> Dashboard:
    """Every client with last activity, open and overdue tasks, unreviewed and urgent
    reflections and a resentment trend: two queries whatever the caseload's size (the page
    with its total, then the page's trends)."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    sort = sort if sort in SORTS else "name"
    page = min(max(page, 1), paging.MAX_PAGE)
    searching = bool(query.strip())
    values = {"therapist_id": therapist.id, "today": today, "limit": DASHBOARD_PER_PAGE}
    if searching:
        values["needle"] = _needle(query)
    statement = _page_statement(sort, attention, searching)
    result = db.session.execute(statement, dict(values, offset=(page - 1) * DASHBOARD_PER_PAGE)).all()
    if not result and page > 1:  # past the last page (an old link): show the last one
        matching_total = db.session.scalar(_count_statement(searching), values)
        page = max(1, -(-matching_total // DASHBOARD_PER_PAGE))
        result = db.session.execute(statement, dict(values, offset=(page - 1) * DASHBOARD_PER_PAGE)).all()
    total = result[0][-1] if result else 0
    pages = max(1, -(-total // DASHBOARD_PER_PAGE))
    rows = [DashboardRow(ClientLabel(*r[:3]), *r[3:-1]) for r in result]
    _add_trends(rows)
    return Dashboard(rows, total, page, pages, sort, query, attention)


def _add_trends(rows: list[DashboardRow]) -> None:
    """One query for the page's clients: their resentment over the last four weeks."""
    if not rows:
        return
    now = utcnow()
    by_client: dict[int, list] = {row.client.id: [] for row in rows}
    for author_id, submitted_at, resentment in db.session.execute(
            _TREND_POINTS, {"client_ids": list(by_client), "since": now - timedelta(days=TREND_DAYS)}):
        by_client[author_id].append((submitted_at, resentment))
    for row in rows:
        row.trend = resentment_trend(by_client[row.client.id], now)
