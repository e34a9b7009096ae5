"""Previewing an exercise as the client will see it: the task as assigning would make it, built
in memory only (no row, no audit, no notification), for the task page's own template parts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.core.clock import today_for
from app.homework.families import sharing_for
from app.models import TASK_OPEN, Exercise, User
from app.pairs.services import member_prompts

MEMBER_LABELS = ("mother", "daughter")  # the wordings the exercise form offers
OTHER_MEMBER = {"mother": "your daughter", "daughter": "your mother"}
EXAMPLE_DUE_IN = timedelta(days=7)


@dataclass(frozen=True)
class PreviewTask:
    """What a task's page reads of a task, copied from the exercise as assign_exercise copies it."""

    title: str
    family: str
    instructions: str
    prompts: list[str]
    sharing: str
    due_date: date
    note: str = ""
    status: str = TASK_OPEN
    occurrence: int = 1
    occurrences: int = 1


def member_wordings(exercise: Exercise) -> list[str]:
    """The pair members this exercise has its own wording for ("mother", "daughter"), in order."""
    worded = exercise.member_prompts or {}
    return [label for label in MEMBER_LABELS
            if label in worded and member_prompts(exercise, label) != list(exercise.prompts)]


def preview_task(therapist: User, exercise: Exercise, member: str | None = None) -> PreviewTask:
    """The task her client (or, in a pair, the `member`) would get, due a week from today."""
    prompts = member_prompts(exercise, member) if member else list(exercise.prompts)
    return PreviewTask(title=exercise.title, family=exercise.family,
                       instructions=exercise.instructions, prompts=prompts,
                       sharing=sharing_for(exercise.family),
                       due_date=today_for(therapist) + EXAMPLE_DUE_IN)
