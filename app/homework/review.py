"""Review services: the queue, the reading view, feedback, annotations, reviewed."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import paging
from app.extensions import db
from app.models import Assignment, Feedback, PrivateAnnotation, Reflection, User, utcnow
from app.notifications.services import notify

QUEUE_PER_PAGE = 20


def _unreviewed(therapist: User) -> sa.Select:
    """Sent reflections on her tasks that she has not reviewed. Looked up through her clients
    (the same rows: her tasks go to her clients), which the database answers from an index
    per client, whatever the size of the practice."""
    her_clients = sa.select(User.id).where(User.therapist_id == therapist.id)
    return policy.visible_reflections(therapist).where(Reflection.reviewed_at.is_(None),
                                                       Reflection.author_id.in_(her_clients))


def review_queue(therapist: User, page: int):
    """Reflections waiting for her: urgent first, then the longest-waiting first."""
    query = (
        _unreviewed(therapist)
        .join(Reflection.author)
        .options(contains_eager(Reflection.assignment), contains_eager(Reflection.author))
        .order_by(Reflection.urgent.desc(), Reflection.submitted_at.asc(), Reflection.id.asc())
    )
    return paging.paginate(query, page, QUEUE_PER_PAGE)


def review_counts(therapist: User) -> dict:
    """How many reflections wait for review, and how many of them are urgent (one query)."""
    subquery = _unreviewed(therapist).subquery()
    waiting, urgent = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(subquery.c.urgent.is_(True)))
        .select_from(subquery)
    ).one()
    return {"waiting": waiting, "urgent": urgent}


def open_for_reading(therapist: User, reflection: Reflection) -> dict:
    """Everything the reading view shows; the read is recorded in the audit trail."""
    if not policy.can_review_reflection(therapist, reflection):
        raise Forbidden()
    task = reflection.assignment
    same_exercise = (
        Assignment.exercise_id == task.exercise_id if task.exercise_id is not None
        else Assignment.title == task.title
    )
    earlier = list(db.session.scalars(
        policy.visible_reflections(therapist)
        .where(Reflection.author_id == reflection.author_id, Reflection.id != reflection.id,
               Reflection.submitted_at < reflection.submitted_at, same_exercise)
        .options(contains_eager(Reflection.assignment))
        .order_by(Reflection.submitted_at.desc()).limit(10)
    ))
    annotations = list(db.session.scalars(
        sa.select(PrivateAnnotation).where(PrivateAnnotation.reflection_id == reflection.id)
        .order_by(PrivateAnnotation.created_at)
    ))
    audit.record_read(therapist, reflection.author, reflection, action="read_reflection")
    return {"earlier": earlier, "annotations": annotations}


def give_feedback(therapist: User, reflection: Reflection, body: str, mark_reviewed: bool) -> Feedback:
    """Write feedback the client will read; optionally mark the reflection reviewed."""
    if not policy.can_review_reflection(therapist, reflection):
        raise Forbidden()
    now = utcnow()
    feedback = Feedback(reflection_id=reflection.id, therapist_id=therapist.id, body=body,
                        created_at=now)
    db.session.add(feedback)
    reflection.last_feedback_at = now
    if mark_reviewed:
        reflection.reviewed_at = now
    audit.record(therapist, "feedback_given", reflection.author, reflection)
    notify(reflection.author, "new_feedback", f"/tasks/{reflection.assignment_id}")
    db.session.commit()
    return feedback


def annotate(therapist: User, reflection: Reflection, body: str) -> PrivateAnnotation:
    """Add a private annotation: hers alone, never shown to a client."""
    if not policy.can_review_reflection(therapist, reflection):
        raise Forbidden()
    note = PrivateAnnotation(reflection_id=reflection.id, therapist_id=therapist.id, body=body)
    db.session.add(note)
    audit.record(therapist, "annotation_added", reflection.author, reflection)
    db.session.commit()
    return note


def mark_reviewed(therapist: User, reflection: Reflection) -> None:
    if not policy.can_review_reflection(therapist, reflection):
        raise Forbidden()
    if reflection.reviewed_at is None:
        reflection.reviewed_at = utcnow()
        audit.record(therapist, "reflection_reviewed", reflection.author, reflection)
        db.session.commit()
