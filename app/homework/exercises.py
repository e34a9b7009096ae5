"""Exercise library services."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.homework.families import FAMILIES
from app.models import Exercise, User, utcnow


def library(therapist: User, show_archived: bool = False) -> dict[str, list[Exercise]]:
    """The exercises she may use, grouped by family in the approach's order."""
    query = policy.visible_exercises(therapist)
    if not show_archived:
        query = query.where(Exercise.archived_at.is_(None))
    query = query.order_by(Exercise.built_in.desc(), sa.func.lower(Exercise.title), Exercise.id)
    grouped: dict[str, list[Exercise]] = defaultdict(list)
    for exercise in db.session.scalars(query):
        grouped[exercise.family].append(exercise)
    ordered = {key: grouped.pop(key) for key in FAMILIES if key in grouped}
    ordered.update(grouped)
    return ordered


def assignable_exercises(therapist: User) -> list[Exercise]:
    query = (policy.visible_exercises(therapist).where(Exercise.archived_at.is_(None))
             .order_by(Exercise.family, sa.func.lower(Exercise.title)))
    return list(db.session.scalars(query))


def create_exercise(therapist: User, *, title: str, family: str, instructions: str,
                    prompts: list[str], member_prompts: dict | None = None,
                    once_key: str | None = None) -> Exercise:
    """Add one of her own exercises to the library. The same form posted again (its one-time
    key) adds nothing and returns the exercise the first added."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "exercise_created"):
        return db.session.get(Exercise, once.earlier(therapist, once_key)["id"])
    exercise = Exercise(owner_id=therapist.id, built_in=False, family=family, title=title.strip(),
                        instructions=instructions.strip(), prompts=prompts,
                        member_prompts=member_prompts)
    db.session.add(exercise)
    db.session.flush()
    audit.record(therapist, "exercise_created", None, exercise)
    once.remember(therapist, once_key, id=exercise.id)
    db.session.commit()
    return exercise


def update_exercise(therapist: User, exercise: Exercise, *, title: str, family: str,
                    instructions: str, prompts: list[str],
                    member_prompts: dict | None = None) -> Exercise:
    """Edit her own exercise; tasks already assigned keep the version they were given."""
    if not policy.can_edit_exercise(therapist, exercise):
        raise Forbidden()
    exercise.title = title.strip()
    exercise.family = family
    exercise.instructions = instructions.strip()
    exercise.prompts = prompts
    exercise.member_prompts = member_prompts
    exercise.version += 1
    exercise.updated_at = utcnow()
    audit.record(therapist, "exercise_edited", None, exercise)
    db.session.commit()
    return exercise


def duplicate_exercise(therapist: User, exercise: Exercise) -> Exercise:
    """Copy an exercise (built-in or her own) into her own editable one."""
    if not policy.can_duplicate_exercise(therapist, exercise):
        raise Forbidden()
    copy = Exercise(owner_id=therapist.id, built_in=False, family=exercise.family,
                    title=f"{exercise.title} (my copy)"[:200], instructions=exercise.instructions,
                    prompts=list(exercise.prompts),
                    member_prompts=dict(exercise.member_prompts) if exercise.member_prompts else None)
    db.session.add(copy)
    db.session.flush()
    audit.record(therapist, "exercise_duplicated", None, copy)
    db.session.commit()
    return copy


def set_archived(therapist: User, exercise: Exercise, archived: bool) -> None:
    """Archive (hide from the assign list) or restore her own exercise."""
    if not policy.can_edit_exercise(therapist, exercise):
        raise Forbidden()
    exercise.archived_at = utcnow() if archived else None
    audit.record(therapist, "exercise_archived" if archived else "exercise_restored", None, exercise)
    db.session.commit()
