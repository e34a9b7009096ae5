"""Exercise library services."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once, paging
from app.extensions import db
from app.homework.families import FAMILIES
from app.models import Exercise, User, utcnow

PER_PAGE = 20
QUERY_MAX = 100  # characters of a search kept; the rest is ignored
# The approach's order of the families (unknown ones last), for ORDER BY.
_FAMILY_ORDER = sa.case({key: i for i, key in enumerate(FAMILIES)}, value=Exercise.family,
                        else_=len(FAMILIES))


@dataclass
class LibraryPage:
    """One page of the library as she filtered it: the exercises grouped by family, in order."""

    groups: list[tuple[str, list[Exercise]]]
    pagination: paging.Page
    query: str
    family: str
    show_archived: bool

    @property
    def filtered(self) -> bool:
        return bool(self.query or self.family)


def _matching(terms: list[str]):
    """Every word somewhere in the title, description or instructions, whatever its case
    (ILIKE on PostgreSQL, lower() LIKE lower() on SQLite), % and _ taken literally."""
    conditions = []
    for term in terms:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(sa.or_(*(column.ilike(pattern, escape="\\") for column in
                                   (Exercise.title, Exercise.description, Exercise.instructions))))
    return sa.and_(*conditions)


def library(therapist: User, *, query: str = "", family: str = "", show_archived: bool = False,
            page: int = 1) -> LibraryPage:
    """The exercises she may use, built in first within each family in the approach's order,
    narrowed by a search and a family, a page at a time."""
    query = " ".join((query or "").split())[:QUERY_MAX]
    family = family if family in FAMILIES else ""
    select = policy.visible_exercises(therapist)
    if not show_archived:
        select = select.where(Exercise.archived_at.is_(None))
    if family:
        select = select.where(Exercise.family == family)
    if query:
        select = select.where(_matching(query.split(" ")))
    select = select.order_by(_FAMILY_ORDER, Exercise.family, Exercise.built_in.desc(),
                             sa.func.lower(Exercise.title), Exercise.id)
    found = paging.paginate(select, page, PER_PAGE)
    groups = [(key, list(items)) for key, items in groupby(found.items, key=lambda e: e.family)]
    return LibraryPage(groups=groups, pagination=found, query=query, family=family,
                       show_archived=show_archived)


def assignable_exercises(therapist: User) -> list[Exercise]:
    query = (policy.visible_exercises(therapist).where(Exercise.archived_at.is_(None))
             .order_by(Exercise.family, sa.func.lower(Exercise.title)))
    return list(db.session.scalars(query))


def create_exercise(therapist: User, *, title: str, family: str, instructions: str,
                    prompts: list[str], member_prompts: dict | None = None,
                    description: str = "", typical_minutes: int | None = None,
                    once_key: str | None = None) -> Exercise:
    """Add one of her own exercises to the library. The same form posted again (its one-time
    key) adds nothing and returns the exercise the first added."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "exercise_created"):
        return db.session.get(Exercise, once.earlier(therapist, once_key)["id"])
    exercise = Exercise(owner_id=therapist.id, built_in=False, family=family, title=title.strip(),
                        instructions=instructions.strip(), prompts=prompts,
                        member_prompts=member_prompts, description=(description or "").strip(),
                        typical_minutes=typical_minutes)
    db.session.add(exercise)
    db.session.flush()
    audit.record(therapist, "exercise_created", None, exercise)
    once.remember(therapist, once_key, id=exercise.id)
    db.session.commit()
    return exercise


def update_exercise(therapist: User, exercise: Exercise, *, title: str, family: str,
                    instructions: str, prompts: list[str], member_prompts: dict | None = None,
                    description: str = "", typical_minutes: int | None = None) -> Exercise:
    """Edit her own exercise; tasks already assigned keep the version they were given."""
    if not policy.can_edit_exercise(therapist, exercise):
        raise Forbidden()
    exercise.title = title.strip()
    exercise.family = family
    exercise.instructions = instructions.strip()
    exercise.prompts = prompts
    exercise.member_prompts = member_prompts
    exercise.description = (description or "").strip()
    exercise.typical_minutes = typical_minutes
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
                    member_prompts=dict(exercise.member_prompts) if exercise.member_prompts else None,
                    description=exercise.description or "", typical_minutes=exercise.typical_minutes)
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
