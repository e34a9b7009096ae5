"""The review queue: what waits for her review, in which order (urgent first, then the longest
waiting), what each row shows of it, and where one reflection stands in it (previous, next)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from app import audit, policy
from app.core import paging
from app.core.clock import today_for, zone_for
from app.extensions import db
from app.models import Assignment, PairExercise, PairMember, Reflection, User

QUEUE_PER_PAGE = 20
PREVIEW_CHARS = 140
READ_PREVIEW = "read_reflection_preview"  # the audit action of the queue's first lines


def _unreviewed(therapist: User) -> sa.Select:
    """Sent reflections on her tasks that she has not reviewed. Looked up through her clients
    (the same rows: her tasks go to her clients), which the database answers from an index
    per client, whatever the size of the practice."""
    her_clients = sa.select(User.id).where(User.therapist_id == therapist.id)
    return policy.visible_reflections(therapist).where(Reflection.reviewed_at.is_(None),
                                                       Reflection.author_id.in_(her_clients))


# The queue's one order. `urgent` is what a client sets when she flags a reflection urgent for
# her therapist (DOMAIN.md, privacy rule 5); nothing else marks urgency.
QUEUE_ORDER = (Reflection.urgent.desc(), Reflection.submitted_at.asc(), Reflection.id.asc())


def _with_labels(query: sa.Select) -> sa.Select:
    """The reflection with its task and author (for the name and title of a row or a link)."""
    return query.join(Reflection.author).options(contains_eager(Reflection.assignment),
                                                 contains_eager(Reflection.author))


def first_lines(answers, limit: int = PREVIEW_CHARS) -> str:
    """The start of the first answer written, on one line, cut at a word ("" if none)."""
    text = next((a for a in answers or () if isinstance(a, str) and a.strip()), "")
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit + 1].rsplit(" ", 1)[0] if " " in text[:limit + 1] else text[:limit]
    return cut.rstrip(" ,;:.-–—") + "…"


@dataclass
class QueueRow:
    """One reflection in the queue as she scans it."""

    reflection: Reflection
    preview: str  # the first lines of the first answer written
    days_waiting: int  # calendar days since it was sent, in her time zone
    other_name: str | None  # on a pair exercise: the other member, and her relation label
    other_label: str | None

    @property
    def on_pair_exercise(self) -> bool:
        return self.reflection.assignment.pair_exercise_id is not None


def _other_member(column) -> sa.ScalarSelect:
    """A column of the other member of the pair a reflection's pair exercise was given to
    (in the same statement as the row, whatever the page holds)."""
    return (sa.select(column).join(PairMember.user).join(PairExercise, PairExercise.pair_id == PairMember.pair_id)
            .where(PairExercise.id == Assignment.pair_exercise_id, PairMember.user_id != Reflection.author_id)
            .order_by(PairMember.id).limit(1).correlate(Assignment, Reflection).scalar_subquery())


# A therapist whose id is bound when the statement runs: her queue and its counts are built once,
# from the same rule (policy.visible_reflections), not anew on every request.
_BOUND_THERAPIST = SimpleNamespace(id=sa.bindparam("therapist_id", type_=sa.Integer), role="therapist",
                                   is_authenticated=True, is_active=True)


def _queue_page() -> sa.Select:
    """A page of her queue: the page's ids chosen (with the total) from the index first, then
    those rows alone loaded with what a row shows (its task's title and family, her name) and
    the other member of a pair exercise."""
    waiting = (_unreviewed(_BOUND_THERAPIST)
               .with_only_columns(Reflection.id, Reflection.urgent, Reflection.submitted_at,
                                  sa.func.count().over().label("total"),
                                  sa.func.count().filter(Reflection.urgent.is_(True)).over().label("urgent_total"))
               .order_by(*QUEUE_ORDER)
               .limit(sa.bindparam("limit", type_=sa.Integer)).offset(sa.bindparam("offset", type_=sa.Integer))
               .subquery("waiting"))
    return (sa.select(Reflection).join(waiting, waiting.c.id == Reflection.id)
            .join(Reflection.assignment).join(Reflection.author)
            .add_columns(_other_member(User.name), _other_member(PairMember.label), waiting.c.total,
                         waiting.c.urgent_total)
            .options(contains_eager(Reflection.assignment).load_only(Assignment.title, Assignment.family,
                                                                     Assignment.pair_exercise_id),
                     contains_eager(Reflection.author).load_only(User.name))
            .order_by(waiting.c.urgent.desc(), waiting.c.submitted_at.asc(), waiting.c.id.asc()))


_QUEUE_PAGE = _queue_page()
_UNREVIEWED = _unreviewed(_BOUND_THERAPIST).subquery()
_COUNTS = sa.select(sa.func.count(), sa.func.count().filter(_UNREVIEWED.c.urgent.is_(True))).select_from(_UNREVIEWED)


@dataclass
class QueuePage(paging.Page):
    """A page of her queue, with what waits in all (review_counts(), from the same statement)."""

    urgent: int = 0

    @property
    def counts(self) -> dict:
        return {"waiting": self.total, "urgent": self.urgent}


def review_queue(therapist: User, page: int) -> QueuePage:
    """Reflections waiting for her, urgent first, then the longest-waiting first: a page of
    QueueRow, and how many wait and are urgent in all (one query). Its first lines and ratings
    are reads of each client's record, recorded as such."""
    if not policy.is_therapist(therapist):
        return QueuePage([], max(page, 1), QUEUE_PER_PAGE, 0)
    page = min(max(page, 1), paging.MAX_PAGE)
    values = {"therapist_id": therapist.id, "limit": QUEUE_PER_PAGE, "offset": (page - 1) * QUEUE_PER_PAGE}
    found = db.session.execute(_QUEUE_PAGE, values).all()
    if found:
        total, urgent = found[0][-2:]
    elif page > 1:  # past the end: the window saw no rows, so count them apart (rare)
        total, urgent = review_counts(therapist).values()
    else:
        total = urgent = 0
    today, zone = today_for(therapist), zone_for(therapist)
    rows = [QueueRow(reflection, first_lines(reflection.answers),
                     (today - reflection.submitted_at.astimezone(zone).date()).days, name, label)
            for reflection, name, label, _, _ in found]
    audit.record_reads(therapist, [(row.reflection.author, row.reflection) for row in rows], READ_PREVIEW)
    return QueuePage(items=rows, page=page, per_page=QUEUE_PER_PAGE, total=total, urgent=urgent)


def review_counts(therapist: User) -> dict:
    """How many reflections wait for review, and how many of them are urgent (one query)."""
    if not policy.is_therapist(therapist):
        return {"waiting": 0, "urgent": 0}
    waiting, urgent = db.session.execute(_COUNTS, {"therapist_id": therapist.id}).one()
    return {"waiting": waiting, "urgent": urgent}


@dataclass
class QueuePlace:
    """Where one reflection stands in her queue, for the reading view's Previous and Next."""

    waiting: int  # reflections waiting, this one included if it still waits
    position: int | None  # its place (from 1) while it waits, else None
    previous: QueueNeighbour | None
    next: QueueNeighbour | None
    from_the_start: bool  # reviewed, and nothing waits after it: Next is the queue's first

    @property
    def caught_up(self) -> bool:
        return self.waiting == 0


def _before(column_of, reflection: Reflection):
    """Rows ahead of `reflection` in the queue's order (urgent, then sent, then id)."""
    same_urgency = sa.or_(column_of("submitted_at") < reflection.submitted_at,
                          sa.and_(column_of("submitted_at") == reflection.submitted_at,
                                  column_of("id") < reflection.id))
    if reflection.urgent:
        return sa.and_(column_of("urgent").is_(True), same_urgency)
    return sa.or_(column_of("urgent").is_(True), same_urgency)


# The queue's order and its reverse, by column name, for the rows of a subquery or CTE.
_FORWARD = (("urgent", "desc"), ("submitted_at", "asc"), ("id", "asc"))
_BACKWARD = (("urgent", "asc"), ("submitted_at", "desc"), ("id", "desc"))


@dataclass(frozen=True)
class QueueNeighbour:
    """A reflection just before or after this one in the queue, as its links name it: a plain
    row shaped like a Reflection for the template (`author.name`, `assignment.title`)."""

    id: int
    urgent: bool
    author: SimpleNamespace
    assignment: SimpleNamespace


def place_in_queue(therapist: User, reflection: Reflection) -> QueuePlace:
    """Its place in her queue, and the waiting reflections just before and after it. A
    reflection she has reviewed keeps the place it had, so Next after feedback is the one that
    followed it; when none follows, Next goes back to the top of the queue. One statement: the
    counts and the neighbours' ids over the waiting reflections (a CTE read from the index),
    with each neighbour's name and title joined on."""
    waiting = _unreviewed(therapist).with_only_columns(
        Reflection.id, Reflection.urgent, Reflection.submitted_at).cte("waiting")
    column = waiting.c

    def first(condition, order) -> sa.ScalarSelect:
        return (sa.select(column.id).where(column.id != reflection.id, condition)
                .order_by(*(getattr(column[name], way)() for name, way in order))
                .limit(1).correlate(None).scalar_subquery())

    ahead = _before(lambda name: column[name], reflection)
    place = sa.select(
        sa.func.count().label("waiting"), sa.func.count().filter(ahead).label("ahead"),
        sa.func.count().filter(column.id == reflection.id).label("itself"),
        first(ahead, _BACKWARD).label("previous_id"), first(sa.not_(ahead), _FORWARD).label("next_id"),
        first(sa.true(), _FORWARD).label("top_id"),
    ).select_from(waiting).subquery("place")
    rows = db.session.execute(
        sa.select(place, Reflection.id.label("neighbour_id"), Reflection.urgent, Assignment.title,
                  User.name)
        .select_from(place)
        .outerjoin(Reflection, Reflection.id.in_([place.c.previous_id, place.c.next_id, place.c.top_id]))
        .outerjoin(Assignment, Assignment.id == Reflection.assignment_id)
        .outerjoin(User, User.id == Reflection.author_id)
    ).all()
    neighbours = {row.neighbour_id: QueueNeighbour(row.neighbour_id, bool(row.urgent),
                                                   SimpleNamespace(name=row.name),
                                                   SimpleNamespace(title=row.title))
                  for row in rows if row.neighbour_id is not None}
    counts = rows[0]
    previous, following = neighbours.get(counts.previous_id), neighbours.get(counts.next_id)
    # Done with it, and nothing follows: Next starts again from the top (what she skipped).
    from_the_start = not counts.itself and following is None and previous is not None
    if from_the_start:
        following = neighbours.get(counts.top_id)
    return QueuePlace(counts.waiting, counts.ahead + 1 if counts.itself else None, previous,
                      following, from_the_start)
