"""Review services: the reading view (with the other member's side of a pair exercise),
feedback (to one member, or to both), annotations, reviewed. The queue: review_queue.py."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, joinedload, selectinload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.homework.review_queue import review_counts, review_queue  # noqa: F401 (their old home)
from app.models import (
    TASK_CANCELLED,
    TASK_SUBMITTED,
    Assignment,
    Feedback,
    PairExercise,
    PairMember,
    PrivateAnnotation,
    Reflection,
    User,
    utcnow,
)
from app.notifications.services import notify
from app.pairs.ratings import compare

RATINGS = (("resentment", "Resentment"), ("closeness", "Closeness"), ("stayed_present", "Stayed present"))


class FeedbackRefused(Exception):
    """A refusal with a sentence the therapist can act on; nothing was written."""


@dataclass
class PairRow:
    """One question of a pair exercise: each member's wording of it and her answer."""

    prompt: str
    answer: str
    their_prompt: str
    their_answer: str

    @property
    def same_prompt(self) -> bool:
        return self.prompt == self.their_prompt


@dataclass
class PairSide:
    """The other member's side of a pair task, as the therapist reads it beside this one.
    `theirs` is her reflection once it is sent, else None: a draft is its author's alone, and
    nothing here (`other_state` included) depends on whether one exists."""

    pair_exercise: PairExercise
    member: PairMember  # the author of the reflection being read
    other: PairMember
    other_task: Assignment | None
    other_state: str  # "sent", "not_sent", "cancelled", "removed", "no_task"
    theirs: Reflection | None
    rows: list[PairRow]
    ratings: list[dict]


def _at(items, index: int) -> str:
    return items[index] if index < len(items) else ""


def pair_side(therapist: User, reflection: Reflection) -> PairSide | None:
    """The other member's side of this pair exercise (None for a task given to one client)."""
    task = reflection.assignment
    if task.pair_exercise_id is None:
        return None
    pair_exercise = db.session.scalar(
        sa.select(PairExercise).where(PairExercise.id == task.pair_exercise_id)
        .options(joinedload(PairExercise.pair),
                 selectinload(PairExercise.tasks).joinedload(Assignment.reflection)))
    pair = pair_exercise.pair
    member, other = pair.member_for(reflection.author_id), pair.partner_of(reflection.author_id)
    if member is None or other is None:
        return None
    other_task = next((t for t in pair_exercise.tasks
                       if t.client_id == other.user_id and t.deleted_at is None), None)
    candidate = other_task.reflection if other_task is not None else None
    theirs = candidate if (policy.can_view_reflection(therapist, candidate)
                           and policy.can_review_reflection(therapist, candidate)) else None
    if theirs is not None:
        state = "sent"
    elif other_task is None:
        state = "no_task"
    else:  # from the task's status alone: the same whether or not a draft exists
        state = {TASK_CANCELLED: "cancelled", TASK_SUBMITTED: "removed"}.get(other_task.status, "not_sent")
    rows, ratings = [], []
    if theirs is not None:
        mine_prompts, their_prompts = list(task.prompts), list(other_task.prompts)
        rows = [PairRow(_at(mine_prompts, i), _at(reflection.answers, i), _at(their_prompts, i),
                        _at(theirs.answers, i))
                for i in range(max(len(mine_prompts), len(their_prompts)))]
        ratings = compare(reflection, theirs, RATINGS)
    return PairSide(pair_exercise, member, other, other_task, state, theirs, rows, ratings)


def open_for_reading(therapist: User, reflection: Reflection) -> dict:
    """Everything the reading view shows, with the other member's sent reflection of a pair
    exercise beside it; each read is recorded in the audit trail."""
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
    side = pair_side(therapist, reflection)
    reads = [(reflection.author, reflection)]
    if side is not None and side.theirs is not None:
        reads.append((side.theirs.author, side.theirs))
    audit.record_reads(therapist, reads, "read_reflection")
    return {"earlier": earlier, "annotations": annotations, "pair_side": side}


def give_feedback(therapist: User, reflection: Reflection, body: str, mark_reviewed: bool,
                  to_both: bool = False, once_key: str | None = None) -> Feedback | None:
    """Write feedback the client will read; optionally mark the reflection reviewed. To both:
    the same feedback on the other member's sent reflection of the pair exercise too, in the
    same transaction (each reads it under her own; each gets her own notification). Refused,
    with nothing written, when the other member has no sent reflection there. The same form
    posted again (its one-time key) writes nothing and returns None."""
    if not policy.can_review_reflection(therapist, reflection):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "feedback"):
        return None
    readers = [reflection]
    if to_both:
        side = pair_side(therapist, reflection)
        if side is None:
            raise FeedbackRefused("This task was given to one client only: "
                                  "its feedback goes to that client alone.")
        if side.theirs is None or not policy.can_review_reflection(therapist, side.theirs):
            raise FeedbackRefused(
                f"{side.other.user.name} has no sent reflection on this exercise, so this feedback "
                f"can go to {reflection.author.name} only. Nothing was sent; your text is still here.")
        readers.append(side.theirs)
    now = utcnow()
    written = []
    for each in readers:
        written.append(Feedback(reflection_id=each.id, therapist_id=therapist.id, body=body,
                                created_at=now))
        db.session.add(written[-1])
        each.last_feedback_at = now
        if mark_reviewed:
            each.reviewed_at = now
        audit.record(therapist, "feedback_given", each.author, each)
        notify(each.author, "new_feedback", f"/tasks/{each.assignment_id}")
    db.session.commit()
    return written[0]


def annotate(therapist: User, reflection: Reflection, body: str,
             once_key: str | None = None) -> PrivateAnnotation | None:
    """Add a private annotation: hers alone, never shown to a client (once per one-time key)."""
    if not policy.can_review_reflection(therapist, reflection):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "annotation"):
        return None
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
