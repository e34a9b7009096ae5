"""The review queue: what waits for her review, in which order (urgent first, then the longest
waiting), what each row shows of it, and where one reflection stands in it (previous, next)."""
from __future__ import annotations

import re
from dataclasses import dataclass

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
BACKWARDS = (Reflection.urgent.asc(), Reflection.submitted_at.desc(), Reflection.id.desc())


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


def review_queue(therapist: User, page: int) -> paging.Page:
    """Reflections waiting for her, urgent first, then the longest-waiting first: a page of
    QueueRow. Its first lines and ratings are reads of each client's record, recorded as such."""
    query = (_with_labels(_unreviewed(therapist)).order_by(*QUEUE_ORDER)
             .add_columns(_other_member(User.name), _other_member(PairMember.label)))
    found = paging.paginate(query, page, QUEUE_PER_PAGE, rows=True)
    today, zone = today_for(therapist), zone_for(therapist)
    rows = [QueueRow(reflection, first_lines(reflection.answers),
                     (today - reflection.submitted_at.astimezone(zone).date()).days, name, label)
            for reflection, name, label in found.items]
    audit.record_reads(therapist, [(row.reflection.author, row.reflection) for row in rows], READ_PREVIEW)
    found.items = rows
    return found


def review_counts(therapist: User) -> dict:
    """How many reflections wait for review, and how many of them are urgent (one query)."""
    subquery = _unreviewed(therapist).subquery()
    waiting, urgent = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(subquery.c.urgent.is_(True)))
        .select_from(subquery)
    ).one()
    return {"waiting": waiting, "urgent": urgent}


@dataclass
class QueuePlace:
    """Where one reflection stands in her queue, for the reading view's Previous and Next."""

    waiting: int  # reflections waiting, this one included if it still waits
    position: int | None  # its place (from 1) while it waits, else None
    previous: Reflection | None
    next: Reflection | None
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


def place_in_queue(therapist: User, reflection: Reflection) -> QueuePlace:
    """Its place in her queue, and the waiting reflections just before and after it. A
    reflection she has reviewed keeps the place it had, so Next after feedback is the one that
    followed it; when none follows, Next goes back to the top of the queue (four queries)."""
    waiting_query = _unreviewed(therapist)
    others = waiting_query.where(Reflection.id != reflection.id)
    subquery = waiting_query.subquery()
    waiting, ahead, itself = db.session.execute(
        sa.select(sa.func.count(),
                  sa.func.count().filter(_before(lambda name: subquery.c[name], reflection)),
                  sa.func.count().filter(subquery.c.id == reflection.id))
        .select_from(subquery)).one()
    ahead_of_it = _before(lambda name: getattr(Reflection, name), reflection)
    previous = db.session.scalar(
        _with_labels(others.where(ahead_of_it)).order_by(*BACKWARDS).limit(1))
    following = db.session.scalar(
        _with_labels(others.where(sa.not_(ahead_of_it))).order_by(*QUEUE_ORDER).limit(1))
    # Done with it, and nothing follows: Next starts again from the top (what she skipped).
    from_the_start = not itself and following is None and previous is not None
    if from_the_start:
        following = db.session.scalar(_with_labels(others).order_by(*QUEUE_ORDER).limit(1))
    return QueuePlace(waiting, ahead + 1 if itself else None, previous, following, from_the_start)
