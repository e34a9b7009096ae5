"""Lists of sessions and the therapist's preparation: a person's sessions page, a client's agenda,
her last session held, and everything since it (session prep)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    TASK_OPEN,
    AgendaItem,
    Assignment,
    PairMember,
    Reflection,
    TherapySession,
    User,
    utcnow,
)

SESSIONS_PER_PAGE = 10
MAX_PAGE = 100_000


# --- lists and pages -------------------------------------------------------------------------

def sessions_page(user: User, page: int, client: User | None = None):
    """Sessions held (or due to have been), newest first: a client's own (and her pairs'), or one
    client's for her therapist. Those ahead are listed apart, soonest first (coming_up)."""
    query = policy.visible_sessions(user).where(TherapySession.starts_at <= utcnow())
    if client is not None:
        pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
        query = query.where(sa.or_(TherapySession.client_id == client.id, TherapySession.pair_id.in_(pair_ids)))
    query = query.options(selectinload(TherapySession.notes)).order_by(
        TherapySession.starts_at.desc(), TherapySession.id.desc())
    return db.paginate(query, page=min(max(page, 1), MAX_PAGE), per_page=SESSIONS_PER_PAGE,
                       error_out=False)


def agenda_for(client: User, include_done: bool = False) -> list[AgendaItem]:
    query = sa.select(AgendaItem).where(AgendaItem.client_id == client.id)
    if not include_done:
        query = query.where(AgendaItem.done_at.is_(None))
    return list(db.session.scalars(query.order_by(AgendaItem.done_at.is_not(None),
                                                  AgendaItem.created_at.desc())))


def last_session_start(client: User):
    """Her most recent session that has taken place (not one cancelled), alone or with her pair."""
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    return db.session.scalar(
        sa.select(sa.func.max(TherapySession.starts_at))
        .where(sa.or_(TherapySession.client_id == client.id, TherapySession.pair_id.in_(pair_ids)),
               TherapySession.starts_at <= utcnow(), TherapySession.cancelled_at.is_(None)))


def prep(therapist: User, client: User) -> dict:
    """Everything since her last session: reflections (reviewed or not), the ratings trend,
    agenda items, open and overdue tasks."""
    if not policy.can_view_client(therapist, client) or not policy.is_therapist(therapist):
        raise Forbidden()
    since = last_session_start(client)
    reflections = db.session.scalars(
        policy.visible_reflections(therapist).where(Reflection.author_id == client.id)
        .where(Reflection.submitted_at > since if since is not None else sa.true())
        .order_by(Reflection.submitted_at)
    ).all()
    open_tasks = db.session.scalars(
        policy.visible_assignments(therapist).where(Assignment.client_id == client.id,
                                                    Assignment.status == TASK_OPEN)
        .order_by(Assignment.due_date)
    ).all()
    trend = [(r.submitted_at, r.resentment, r.closeness, r.stayed_present) for r in reflections
             if r.status == REFLECTION_SUBMITTED]
    audit.record_read(therapist, client, client, action="read_session_prep")
    return {"since": since, "reflections": reflections, "open_tasks": open_tasks, "trend": trend,
            "agenda": agenda_for(client)}
