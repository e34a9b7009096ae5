"""The exercise library, tasks and reflections: who sees, writes, reviews, deletes."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.models import (
    DELETED_DAYS,
    REFLECTION_SUBMITTED,
    TASK_CANCELLED,
    TASK_OPEN,
    Assignment,
    Exercise,
    Reflection,
    utcnow,
)
from app.policy.base import _signed_in, is_client, is_therapist
from app.policy.pairs import partner_can_read

# --- the exercise library -------------------------------------------------------------------

def can_view_exercise(user, exercise: Exercise) -> bool:
    """Therapists see the built-in library and their own exercises; clients see tasks instead."""
    if not is_therapist(user) or exercise is None:
        return False
    return exercise.built_in or exercise.owner_id == user.id


def can_edit_exercise(user, exercise: Exercise) -> bool:
    """Built-in exercises are read-only; a therapist edits (and archives) only her own."""
    return is_therapist(user) and exercise is not None and not exercise.built_in \
        and exercise.owner_id == user.id


def can_duplicate_exercise(user, exercise: Exercise) -> bool:
    return can_view_exercise(user, exercise)


def can_assign_exercise(user, exercise: Exercise) -> bool:
    """Give it to clients (one or several at once): any exercise she may see, unless archived.
    Whom she may give it to is can_assign_to / can_assign_to_pair."""
    return can_view_exercise(user, exercise) and exercise.archived_at is None


def visible_exercises(user) -> sa.Select:
    query = sa.select(Exercise)
    if is_therapist(user):
        return query.where(sa.or_(Exercise.built_in.is_(True), Exercise.owner_id == user.id))
    return query.where(sa.false())



def can_view_assignment(user, assignment: Assignment) -> bool:
    """The client it was given to, and her therapist."""
    if not _signed_in(user) or assignment is None or assignment.deleted_at is not None:
        return False  # a deleted task is gone for everyone (its therapist restores it elsewhere)
    if user.id == assignment.client_id:
        return True
    return is_therapist(user) and assignment.therapist_id == user.id


def can_manage_assignment(user, assignment: Assignment) -> bool:
    """Change the due date, cancel or reopen: the therapist who gave it."""
    return (is_therapist(user) and assignment is not None and assignment.therapist_id == user.id
            and assignment.deleted_at is None)


def can_change_due_date(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_OPEN


def can_cancel_assignment(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_OPEN


def can_reopen_assignment(user, assignment: Assignment) -> bool:
    return can_manage_assignment(user, assignment) and assignment.status == TASK_CANCELLED


def can_write_reflection(user, assignment: Assignment) -> bool:
    """Only the client herself writes, and only while the task is open."""
    return (is_client(user) and assignment is not None and assignment.client_id == user.id
            and assignment.status == TASK_OPEN and assignment.deleted_at is None)


def visible_assignments(user) -> sa.Select:
    query = sa.select(Assignment).where(Assignment.deleted_at.is_(None))
    if is_therapist(user):
        return query.where(Assignment.therapist_id == user.id)
    if is_client(user):
        return query.where(Assignment.client_id == user.id)
    return query.where(sa.false())


def _restorable(deleted_at, now=None) -> bool:
    """Still within the days a deleted task or reflection can be restored."""
    return deleted_at is not None and (now or utcnow()) < deleted_at + timedelta(days=DELETED_DAYS)


def restorable_until(obj):
    """When a deleted task or reflection stops being restorable (and may be purged)."""
    return obj.deleted_at + timedelta(days=DELETED_DAYS) if obj.deleted_at is not None else None


def can_delete_task(user, assignment: Assignment) -> bool:
    """The therapist who gave it, while it is not deleted; clients and partners never."""
    return can_manage_assignment(user, assignment)


def can_restore_task(user, assignment: Assignment) -> bool:
    """Her own deleted task, within DELETED_DAYS of its deletion."""
    return (is_therapist(user) and assignment is not None and assignment.therapist_id == user.id
            and _restorable(assignment.deleted_at))


def is_own_task(user, assignment: Assignment) -> bool:
    """The task was given to this client (whatever its status: the services say what is open)."""
    return is_client(user) and assignment is not None and assignment.client_id == user.id


# --- reflections -----------------------------------------------------------------------------

def is_author(user, reflection: Reflection) -> bool:
    """She wrote it: the only person who may share, withdraw, add to or flag it."""
    return _signed_in(user) and reflection is not None and reflection.author_id == user.id

def can_view_reflection(user, reflection: Reflection) -> bool:
    """The author always; her therapist once it is submitted (drafts are the author's alone);
    her pair partner when she chose to share it (see partner_can_read)."""
    if not _signed_in(user) or reflection is None or reflection.deleted_at is not None:
        return False  # deleted (alone or with its task): gone for everyone
    if user.id == reflection.author_id:
        return True
    if (is_therapist(user) and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED):
        return True
    return partner_can_read(user, reflection)


def can_review_reflection(user, reflection: Reflection) -> bool:
    """Feedback, private annotations and marking reviewed: the therapist of the task."""
    return (is_therapist(user) and reflection is not None and reflection.deleted_at is None
            and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED)


def can_view_private_annotations(user, reflection: Reflection) -> bool:
    """No client ever sees a private annotation."""
    return can_review_reflection(user, reflection)


def can_add_addendum(user, reflection: Reflection) -> bool:
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.status == REFLECTION_SUBMITTED and reflection.deleted_at is None)


def can_mark_urgent(user, reflection: Reflection) -> bool:
    """Its author flags a sent reflection urgent (once: an urgent one has nothing left to mark)."""
    return can_add_addendum(user, reflection) and not reflection.urgent


def can_delete_reflection(user, reflection: Reflection) -> bool:
    """The therapist of the task deletes a sent reflection (with its feedback and annotations)."""
    return can_review_reflection(user, reflection) and reflection.assignment.deleted_at is None


def can_restore_reflection(user, reflection: Reflection) -> bool:
    """Her own client's deleted reflection, within DELETED_DAYS, while its task is not deleted
    (a reflection deleted with its task comes back when the task is restored)."""
    return (is_therapist(user) and reflection is not None
            and reflection.assignment.therapist_id == user.id
            and reflection.status == REFLECTION_SUBMITTED
            and reflection.assignment.deleted_at is None and _restorable(reflection.deleted_at))


def visible_reflections(user) -> sa.Select:
    query = sa.select(Reflection).where(Reflection.deleted_at.is_(None))
    if is_therapist(user):
        return query.join(Reflection.assignment).where(
            Assignment.therapist_id == user.id, Reflection.status == REFLECTION_SUBMITTED
        )
    if is_client(user):
        return query.where(Reflection.author_id == user.id)
    return query.where(sa.false())
