"""Reflection services: drafts, submission (idempotent), addenda, urgent flags."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.homework import drafts
from app.models import (
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    TASK_CANCELLED,
    TASK_OPEN,
    TASK_SUBMITTED,
    Addendum,
    Assignment,
    PairExercise,
    Reflection,
    User,
    utcnow,
)
from app.notifications.services import feedback_notices_read, notify, retract_turn_notices


class ReflectionError(Exception):
    """A refusal with a sentence the client can act on; `field` names the form field if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def closed_task_message(task: Assignment) -> str:
    if task.status == TASK_CANCELLED:
        return ("Your therapist has cancelled this task, so it cannot be changed now. "
                "Everything you had saved is kept.")
    return "You have already sent this reflection; it cannot be changed. You can add to it below."


def _get_or_create(client: User, task: Assignment) -> tuple[Reflection, bool]:
    """The task's reflection row, created on first save (a unique key keeps it to one); and
    whether this call created it."""
    if task.reflection is not None:
        return task.reflection, False
    reflection = Reflection(assignment_id=task.id, author_id=client.id, answers=[],
                            status=REFLECTION_DRAFT)
    try:
        with db.session.begin_nested():
            db.session.add(reflection)
    except IntegrityError:
        # Another request (a second tab, a double click) created it first: use that one.
        db.session.expire(task, ["reflection"])
        return db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id)), False
    return reflection, True


def _fit_answers(task: Assignment, answers: list[str]) -> list[str]:
    return [(answers[i] if i < len(answers) else "") for i in range(len(task.prompts))]


def save_draft(client: User, task: Assignment, answers: list[str], ratings: dict,
               version: str | None = None) -> Reflection:
    """Save what she has written so far. Refused (nothing changed) once the task is closed.
    `version` is the draft version her page last saw ('' when it saw none): when the draft has
    been saved elsewhere since, nothing changes and DraftConflict says so (None: not checked)."""
    if not policy.can_view_assignment(client, task) or client.id != task.client_id:
        raise Forbidden()
    if not policy.can_write_reflection(client, task):
        raise ReflectionError(closed_task_message(task))
    reflection, created = _get_or_create(client, task)
    answers = _fit_answers(task, answers)
    # Conditional on the draft and its task still being open, checked by the database itself,
    # so that an autosave racing a submit or a cancel can never change what was sent; and, when
    # the page named the version it saw, on the draft still being that version (a row this call
    # has just made holds nothing anyone could lose).
    still_open = sa.select(Assignment.id).where(Assignment.id == task.id,
                                                Assignment.status == TASK_OPEN)
    conditions = [Reflection.id == reflection.id, Reflection.status == REFLECTION_DRAFT,
                  Reflection.assignment_id.in_(still_open)]
    previous = reflection.draft_saved_at
    if version is not None and not created:
        try:
            previous = drafts.parse_version(version)
        except ValueError:
            conditions.append(sa.false())  # not a version the app gave: it matches no draft
        else:
            conditions.append(Reflection.draft_saved_at.is_(None) if previous is None
                              else Reflection.draft_saved_at == previous)
    updated = db.session.execute(
        sa.update(Reflection).where(*conditions)
        .values(answers=answers, resentment=ratings.get("resentment"),
                closeness=ratings.get("closeness"), stayed_present=ratings.get("stayed_present"),
                draft_saved_at=drafts.next_version(previous))
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        db.session.rollback()
        db.session.refresh(task)
        current = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
        if (version is not None and task.status == TASK_OPEN and current is not None
                and current.status == REFLECTION_DRAFT):
            if drafts.same_content(current, answers, ratings):
                return current  # already saved (an earlier copy of this save got through)
            raise drafts.DraftConflict(current)
        raise ReflectionError(closed_task_message(task))
    db.session.commit()
    db.session.refresh(reflection)
    return reflection


def keep_both(client: User, task: Assignment, answers: list[str], ratings: dict,
              version: str) -> Reflection:
    """"Keep both" after a conflict: her text and the version saved elsewhere (the one at
    `version`), joined, saved as the draft. If it has changed again meanwhile: DraftConflict."""
    current = task.reflection
    if current is not None and drafts.version_of(current) == version:
        answers, ratings = drafts.joined(current, _fit_answers(task, answers), ratings)
    return save_draft(client, task, answers, ratings, version)


def _missing_for_submit(answers: list[str], ratings: dict) -> ReflectionError | None:
    if not any(a.strip() for a in answers):
        return ReflectionError("Write at least one answer before sending.", "answer_0")
    for name, label in (("resentment", "how strong the resentment felt"),
                        ("closeness", "how close you felt"),
                        ("stayed_present", "whether you stayed present")):
        if ratings.get(name) is None:
            return ReflectionError(f"Please choose {label} before sending.", name)
    return None


def submit_reflection(client: User, task: Assignment, answers: list[str], ratings: dict,
                      urgent: bool = False, share: bool = False,
                      version: str | None = None) -> tuple[Reflection, bool]:
    """Send the reflection to the therapist (and, on a pair exercise, share it with the other
    member in the same transaction when she chose so and policy allows). Idempotent: a second
    submit changes nothing and returns (reflection, False). What was typed is saved as a draft
    even when refused. With the `version` her page saw, a draft saved elsewhere since is never
    sent over nor replaced: DraftConflict, nothing changed."""
    if task.status == TASK_SUBMITTED and task.reflection is not None:
        return task.reflection, False
    reflection = save_draft(client, task, answers, ratings, version)
    saved_as = reflection.draft_saved_at
    answers = _fit_answers(task, answers)
    problem = _missing_for_submit(answers, ratings)
    if problem:
        raise problem
    if task.pair_exercise_id is not None:
        _hold_pair_exercise(task.pair_exercise_id)
    now = utcnow()
    # A conditional update: of two simultaneous submits, exactly one changes the row, and it
    # sends its own words. Without a version, another device's draft save that landed since
    # ours committed is sent over; with one, the draft must still be the one saved just now.
    unchanged = [] if version is None else [Reflection.draft_saved_at == saved_as]
    won = db.session.execute(
        sa.update(Reflection)
        .where(Reflection.id == reflection.id, Reflection.status == REFLECTION_DRAFT, *unchanged)
        .values(status=REFLECTION_SUBMITTED, submitted_at=now, urgent=bool(urgent),
                answers=answers, resentment=ratings.get("resentment"),
                closeness=ratings.get("closeness"), stayed_present=ratings.get("stayed_present"),
                draft_saved_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        db.session.refresh(reflection)
        if reflection.status == REFLECTION_DRAFT:  # only with a version: saved elsewhere meanwhile
            raise drafts.DraftConflict(reflection)
        return reflection, False
    db.session.execute(
        sa.update(Assignment).where(Assignment.id == task.id, Assignment.status == TASK_OPEN)
        .values(status=TASK_SUBMITTED).execution_options(synchronize_session=False)
    )
    audit.record(client, "reflection_submitted", client, reflection)
    notify(task.therapist, "new_reflection", f"/reflections/{reflection.id}")
    if task.pair_exercise_id is not None:
        retract_turn_notices(client, task.id)
    if share:
        from app.pairs.services import share_in_transaction  # pairs' services import homework's

        db.session.refresh(reflection)
        share_in_transaction(client, reflection)
    db.session.commit()
    db.session.refresh(reflection)
    db.session.refresh(task)
    return reflection, True


def _hold_pair_exercise(pair_exercise_id: int) -> None:
    """The two members of a pair exercise send one after the other, never at the same instant:
    whoever sends second reads the first one's sent reflection, so the reveal happens once and
    each is told once. PostgreSQL: a row lock until commit; SQLite: its write lock, taken by the
    first write (BEGIN IMMEDIATE) of this transaction. What this session read before is read again."""
    db.session.execute(sa.select(PairExercise.id).where(PairExercise.id == pair_exercise_id)
                       .with_for_update())
    db.session.expire_all()


def add_addendum(client: User, reflection: Reflection, body: str,
                 once_key: str | None = None) -> Addendum | None:
    """Add to a sent reflection; the original is never overwritten. The same form posted again
    (its one-time key) adds nothing and returns None."""
    if not policy.can_add_addendum(client, reflection):
        raise Forbidden()
    if not (body or "").strip():
        raise ReflectionError("Write something to add first.", "body")
    if not once.first_time(client, once_key, "addendum"):
        return None
    addendum = Addendum(reflection_id=reflection.id, body=body)
    db.session.add(addendum)
    # A new addendum puts the reflection back in the therapist's queue.
    reflection.reviewed_at = None
    audit.record(client, "addendum_added", client, reflection)
    db.session.commit()
    return addendum


def mark_urgent(client: User, reflection: Reflection) -> None:
    """Flag a sent reflection as urgent for her therapist (a second flag changes nothing)."""
    if policy.can_add_addendum(client, reflection) and reflection.urgent:
        return  # already urgent: a double submit
    if not policy.can_mark_urgent(client, reflection):
        raise Forbidden()
    reflection.urgent = True
    reflection.reviewed_at = None
    audit.record(client, "reflection_marked_urgent", client, reflection)
    db.session.commit()


def mark_feedback_seen(client: User, reflection: Reflection | None) -> None:
    """The author has seen the feedback: the 'new feedback' marker goes away, and so does the
    notification that announced it (home and Notifications never disagree)."""
    if reflection is None or client.id != reflection.author_id or not reflection.has_new_feedback:
        return
    reflection.feedback_seen_at = utcnow()
    feedback_notices_read(client, reflection.assignment_id, reflection.feedback_seen_at)
    db.session.commit()
