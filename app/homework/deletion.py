"""Soft delete: a therapist deletes a task or a reflection, restores it within DELETED_DAYS, and
`flask purge-deleted` removes it for good afterwards.

Deleting a task also marks its reflection (unless that was deleted on its own before) with the
very same deleted_at, so every reflection query needs only `Reflection.deleted_at IS NULL`;
restoring the task clears the reflection's mark only where it still equals the task's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.extensions import db
from app.models import DELETED_DAYS, Assignment, AuditEvent, Reflection, User, utcnow
from app.notifications.services import retract_share_notices


class DeletionError(Exception):
    """A refusal with a sentence the therapist can act on."""


def _current(obj) -> None:
    # What another request may have changed since this one loaded the row.
    db.session.refresh(obj)


def delete_task(therapist: User, task: Assignment) -> bool:
    """Hide a task and its reflection everywhere. False if it was already deleted."""
    _current(task)
    if task.deleted_at is not None and task.therapist_id == therapist.id:
        return False
    if not policy.can_delete_task(therapist, task):
        raise Forbidden()
    now = utcnow()
    # Conditional updates: of two simultaneous deletes, exactly one changes the rows.
    won = db.session.execute(
        sa.update(Assignment).where(Assignment.id == task.id, Assignment.deleted_at.is_(None))
        .values(deleted_at=now, deleted_by_id=therapist.id).execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        return False
    db.session.execute(
        sa.update(Reflection).where(Reflection.assignment_id == task.id, Reflection.deleted_at.is_(None))
        .values(deleted_at=now, deleted_by_id=therapist.id).execution_options(synchronize_session=False)
    )
    retract_share_notices(reflection_ids=list(db.session.scalars(
        sa.select(Reflection.id).where(Reflection.assignment_id == task.id))))
    audit.record(therapist, "task_deleted", task.client, task)
    db.session.commit()
    db.session.expire_all()
    return True


def restore_task(therapist: User, task: Assignment) -> bool:
    """Bring a deleted task back exactly as it was (with its reflection if deleted with it).
    False if it was not deleted (already restored)."""
    _current(task)
    if task.deleted_at is None:
        if not policy.can_manage_assignment(therapist, task):
            raise Forbidden()
        return False
    if not policy.can_restore_task(therapist, task):
        if task.therapist_id != therapist.id:
            raise Forbidden()
        raise DeletionError(f"“{task.title}” was deleted more than {DELETED_DAYS} days ago and can no "
                            "longer be restored.")
    deleted_at = task.deleted_at
    won = db.session.execute(
        sa.update(Assignment).where(Assignment.id == task.id, Assignment.deleted_at == deleted_at)
        .values(deleted_at=None, deleted_by_id=None).execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        return False
    # A restored reflection comes back unshared: sharing is its author's choice, to make again.
    db.session.execute(
        sa.update(Reflection).where(Reflection.assignment_id == task.id, Reflection.deleted_at == deleted_at)
        .values(deleted_at=None, deleted_by_id=None, shared_at=None)
        .execution_options(synchronize_session=False)
    )
    audit.record(therapist, "task_restored", task.client, task)
    db.session.commit()
    db.session.expire_all()
    return True


def delete_reflection(therapist: User, reflection: Reflection) -> bool:
    """Hide a sent reflection (with its feedback, addenda and annotations) everywhere; its task
    stays, marked as removed. False if it was already deleted."""
    _current(reflection)
    if reflection.deleted_at is not None and reflection.assignment.therapist_id == therapist.id:
        return False
    if not policy.can_delete_reflection(therapist, reflection):
        raise Forbidden()
    won = db.session.execute(
        sa.update(Reflection).where(Reflection.id == reflection.id, Reflection.deleted_at.is_(None))
        .values(deleted_at=utcnow(), deleted_by_id=therapist.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        return False
    retract_share_notices(reflection_ids=[reflection.id])
    audit.record(therapist, "reflection_deleted", reflection.author, reflection)
    db.session.commit()
    db.session.expire_all()
    return True


def restore_reflection(therapist: User, reflection: Reflection) -> bool:
    """Bring a deleted reflection back exactly as it was. False if it was not deleted."""
    _current(reflection)
    if reflection.deleted_at is None:
        if not policy.can_review_reflection(therapist, reflection):
            raise Forbidden()
        return False
    if not policy.can_restore_reflection(therapist, reflection):
        if reflection.assignment.therapist_id != therapist.id:
            raise Forbidden()
        if reflection.assignment.deleted_at is not None:
            raise DeletionError("Its task is deleted too: restore the task “"
                                f"{reflection.assignment.title}” first.")
        raise DeletionError(f"This reflection was deleted more than {DELETED_DAYS} days ago and can "
                            "no longer be restored.")
    won = db.session.execute(
        sa.update(Reflection).where(Reflection.id == reflection.id,
                                    Reflection.deleted_at == reflection.deleted_at)
        .values(deleted_at=None, deleted_by_id=None, shared_at=None)  # unshared: hers to share again
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        db.session.rollback()
        return False
    audit.record(therapist, "reflection_restored", reflection.author, reflection)
    db.session.commit()
    db.session.expire_all()
    return True


# --- the "Recently deleted" page ---------------------------------------------------------------

@dataclass
class DeletedItem:
    kind: str  # "task" or "reflection"
    obj: object
    client: User
    title: str
    deleted_at: datetime
    restorable_until: datetime
    with_reflection: bool = False  # a task whose reflection was deleted with it


def recently_deleted(therapist: User) -> list[DeletedItem]:
    """Her deleted tasks and reflections, newest first (a reflection deleted with its task is
    listed under the task, not on its own)."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    days = timedelta(days=DELETED_DAYS)
    items = []
    for task in db.session.scalars(
        sa.select(Assignment).where(Assignment.therapist_id == therapist.id,
                                    Assignment.deleted_at.is_not(None))
        .options(selectinload(Assignment.client), selectinload(Assignment.reflection))
    ):
        together = task.reflection is not None and task.reflection.deleted_at == task.deleted_at
        items.append(DeletedItem("task", task, task.client, task.title, task.deleted_at,
                                 task.deleted_at + days, together))
    for reflection in db.session.scalars(
        sa.select(Reflection).join(Reflection.assignment)
        .where(Assignment.therapist_id == therapist.id, Assignment.deleted_at.is_(None),
               Reflection.deleted_at.is_not(None))
        .options(selectinload(Reflection.author), selectinload(Reflection.assignment))
    ):
        items.append(DeletedItem("reflection", reflection, reflection.author,
                                 reflection.assignment.title, reflection.deleted_at,
                                 reflection.deleted_at + days))
    items.sort(key=lambda item: item.deleted_at, reverse=True)
    return items


# --- the purge (flask purge-deleted) ---------------------------------------------------------

def purge_deleted(now: datetime | None = None) -> dict:
    """Remove for good what was deleted more than DELETED_DAYS ago, with everything that hangs
    off it (the database cascades). Safe to run twice: a second run finds nothing."""
    cutoff = (now or utcnow()) - timedelta(days=DELETED_DAYS)
    tasks = db.session.execute(
        sa.select(Assignment.id, Assignment.client_id).where(Assignment.deleted_at < cutoff)).all()
    reflections = db.session.execute(
        sa.select(Reflection.id, Reflection.author_id).join(Reflection.assignment)
        .where(Reflection.deleted_at < cutoff, Assignment.deleted_at.is_(None))).all()
    rows = [{"actor_id": None, "action": "task_purged", "subject_id": client_id,
             "object_type": "Assignment", "object_id": task_id, "ip": None, "at": utcnow()}
            for task_id, client_id in tasks]
    rows += [{"actor_id": None, "action": "reflection_purged", "subject_id": author_id,
              "object_type": "Reflection", "object_id": reflection_id, "ip": None, "at": utcnow()}
             for reflection_id, author_id in reflections]
    if tasks:
        db.session.execute(sa.delete(Assignment).where(Assignment.id.in_([t[0] for t in tasks]))
                           .execution_options(synchronize_session=False))
    if reflections:
        db.session.execute(sa.delete(Reflection).where(Reflection.id.in_([r[0] for r in reflections]))
                           .execution_options(synchronize_session=False))
    if rows:
        db.session.execute(sa.insert(AuditEvent), rows)
    db.session.commit()
    return {"tasks": len(tasks), "reflections": len(reflections)}
