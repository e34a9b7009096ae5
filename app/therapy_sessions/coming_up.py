"""What is coming up: the sessions ahead on the caseload, a client's and a pair's pages and a
client's home, a client page's sessions held, and a new task's due date before the next session.
Scheduling, moving and cancelling are in schedule.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import Forbidden

from app import policy
from app.core.clock import zone_for
from app.extensions import db
from app.models import NOTE_SHARED, Pair, PairMember, SessionNote, TherapySession, User, utcnow

CASELOAD_DAYS = 7        # what the caseload shows as "coming up"
LISTED = 50              # at most this many upcoming sessions on one list

# --- what is coming up -------------------------------------------------------------------------

def _ahead(user: User):
    """Sessions ahead that `user` may see, soonest first."""
    return (policy.visible_sessions(user).where(TherapySession.starts_at > utcnow())
            .order_by(TherapySession.starts_at, TherapySession.id))


def _upcoming(user: User):
    """The same, with whom they are, the pairs' members and their names in the same statement
    (a list's statement count does not depend on whether a pair session is among them)."""
    return _ahead(user).options(joinedload(TherapySession.client),
                                joinedload(TherapySession.pair).joinedload(Pair.members))


def upcoming_for_client(client: User) -> list[TherapySession]:
    """Her sessions page: every session ahead of her (alone or with her pair), soonest first,
    cancelled ones struck through; her past sessions are paged apart (session_lists)."""
    if not policy.is_client(client):
        raise Forbidden()
    return list(db.session.scalars(_upcoming(client).limit(LISTED)).unique())


def upcoming_for_therapist(therapist: User, days: int = CASELOAD_DAYS) -> list[TherapySession]:
    """Her sessions in the next `days` days (cancelled ones too, shown struck through)."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    until = utcnow() + timedelta(days=days)
    return list(db.session.scalars(_upcoming(therapist).where(TherapySession.starts_at < until)
                                   .limit(LISTED)).unique())


def upcoming_with(therapist: User, who: User | Pair) -> list[TherapySession]:
    """Her sessions ahead with one client (alone or with her pair) or with one pair."""
    if isinstance(who, Pair):
        with_them = TherapySession.pair_id == who.id
    else:
        pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == who.id)
        with_them = sa.or_(TherapySession.client_id == who.id, TherapySession.pair_id.in_(pair_ids))
    return list(db.session.scalars(_upcoming(therapist).where(with_them).limit(LISTED)).unique())


# Built once (every client's home asks it): her therapist, with her next five sessions ahead.
_next_five = aliased(TherapySession, (
    sa.select(TherapySession)
    .where(policy.client_sees_session(sa.bindparam("client_id")),
           TherapySession.starts_at > sa.bindparam("now"))
    .order_by(TherapySession.starts_at, TherapySession.id).limit(5).subquery()), name="ahead")
_NEXT_FOR_CLIENT = (sa.select(User, _next_five).outerjoin(_next_five, sa.true())
                    .where(User.id == sa.bindparam("therapist_id"))
                    .order_by(_next_five.starts_at, _next_five.id))


def next_sessions_for(client: User) -> list[TherapySession]:
    """What a client's home shows: her next session, and any cancelled one before it (so that a
    cancellation is seen, struck through, where she looks for the next session). One statement,
    which also loads her therapist: the page names her anyway, and this way it costs nothing more
    (the home page stays within its statement budget, tests/test_query_counts.py)."""
    if not policy.is_client(client):
        raise Forbidden()
    rows = db.session.execute(_NEXT_FOR_CLIENT, {"client_id": client.id, "now": utcnow(),
                                                 "therapist_id": client.therapist_id}).all()
    client = getattr(client, "_get_current_object", lambda: client)()  # current_user is a proxy
    # Held by her (the identity map keeps only what is referenced), as if she had loaded it.
    set_committed_value(client, "therapist", rows[0][0])
    shown = []
    for _, session in rows:
        if session is None:
            break
        shown.append(session)
        if session.cancelled_at is None:
            break
    return shown


HELD_SHOWN = 10  # past sessions on a client's page


def sessions_with_client(therapist: User, client: User) -> dict:
    """Her client's page, in one statement: every session ahead with her (alone or with her pair),
    soonest first; the HELD_SHOWN latest before now, newest first, each with whether its shared
    notes were written; and how many there were before now."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    theirs = policy.visible_sessions(therapist).where(
        sa.or_(TherapySession.client_id == client.id, TherapySession.pair_id.in_(pair_ids)))
    now = utcnow()
    past = theirs.where(TherapySession.starts_at <= now)
    latest = past.with_only_columns(TherapySession.id).order_by(
        TherapySession.starts_at.desc(), TherapySession.id.desc()).limit(HELD_SHOWN).subquery()
    past_count = sa.select(sa.func.count()).select_from(past.subquery()).correlate(None).scalar_subquery()
    shared_written = sa.exists().where(SessionNote.session_id == TherapySession.id,
                                       SessionNote.kind == NOTE_SHARED)
    rows = db.session.execute(
        theirs.where(sa.or_(TherapySession.starts_at > now, TherapySession.id.in_(sa.select(latest.c.id))))
        .add_columns(shared_written.label("shared_written"), past_count.label("past_count"))
        .order_by(TherapySession.starts_at, TherapySession.id)).all()
    return {
        "upcoming": [row[0] for row in rows if row[0].starts_at > now],
        "held": [(row[0], row[1]) for row in reversed(rows) if row[0].starts_at <= now],
        "held_total": rows[0][2] if rows else 0,
    }


@dataclass(frozen=True)
class DueDefault:
    """A new task's due date before the next session: `due`, and the session's own day."""

    due: date
    session_day: date
    session: TherapySession


def due_before_next_session(therapist: User, who: User | Pair, today: date) -> DueDefault | None:
    """The day before the next session on a later day than today (the session's own day when it
    is tomorrow), on the client's calendar (for a pair: the earlier of the two), or None."""
    people = [m.user for m in who.members] if isinstance(who, Pair) else [who]
    for session in upcoming_with(therapist, who):
        if session.cancelled_at is not None:
            continue
        day = min(session.starts_at.astimezone(zone_for(p)).date() for p in people)
        if day > today:
            return DueDefault(due=day if day == today + timedelta(days=1) else day - timedelta(days=1),
                              session_day=day, session=session)
    return None
