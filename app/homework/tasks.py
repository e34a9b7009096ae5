"""Assignment services: give a task, change its due date, cancel and reopen; the task board."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, defer, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once, paging
from app.extensions import db
from app.homework.families import sharing_for
from app.models import (
    TASK_CANCELLED,
    TASK_OPEN,
    TASK_SUBMITTED,
    Assignment,
    Exercise,
    Reflection,
    User,
    utcnow,
)
from app.notifications.services import notify

REPEAT_STEPS = {"none": None, "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
MAX_OCCURRENCES = 12
DONE_SHOWN = 10
OPEN_SHOWN = 40   # open tasks on her home, due soonest first; the counts are of all of them
TASKS_PER_PAGE = 20


class AssignmentError(Exception):
    """A refusal with a sentence the therapist can act on, and the field it belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def check_due_date(due: date, today: date) -> None:
    if due < today:
        raise AssignmentError("Choose today or a later date.", "due_date")
    if due > today + timedelta(days=366):
        raise AssignmentError("Choose a date within the next year.", "due_date")


def assign_exercise(therapist: User, client: User, exercise: Exercise, *, due_date: date,
                    today: date, note: str = "", repeat: str = "none", times: int = 1,
                    once_key: str | None = None) -> list[Assignment]:
    """Give an exercise to a client, once or repeating; each occurrence is its own task. The
    same form posted again (its one-time key) gives nothing and returns what the first gave."""
    if not policy.can_assign_to(therapist, client) or not policy.can_view_exercise(therapist, exercise):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "task_assigned"):
        return [db.session.get(Assignment, i) for i in once.earlier(therapist, once_key)["ids"]]
    if exercise.archived_at is not None:
        raise AssignmentError("This exercise is archived; restore it first.", "exercise_id")
    dates = occurrence_dates(due_date, today, repeat, times)
    tasks = give_exercise(therapist, client, exercise, dates, note)
    once.remember(therapist, once_key, ids=[task.id for task in tasks])
    db.session.commit()
    return tasks


def give_exercise(therapist: User, client: User, exercise: Exercise, dates: list[date],
                  note: str = "") -> list[Assignment]:
    """The tasks of one assignment (one per date), their audit rows and her notification, in
    the caller's transaction: the caller commits (assign_exercise; the library's assigning to
    several clients at once, app/homework/bulk_assign.py)."""
    if not policy.can_assign_to(therapist, client) or not policy.can_view_exercise(therapist, exercise):
        raise Forbidden()
    series_key = secrets.token_hex(8) if len(dates) > 1 else None
    tasks = []
    for i, due in enumerate(dates):
        task = Assignment(
            client_id=client.id, therapist_id=therapist.id, exercise_id=exercise.id,
            exercise_version=exercise.version, family=exercise.family, title=exercise.title,
            instructions=exercise.instructions, prompts=list(exercise.prompts),
            sharing=sharing_for(exercise.family), note=(note or "").strip(), due_date=due,
            series_key=series_key, occurrence=i + 1, occurrences=len(dates), status=TASK_OPEN,
        )
        db.session.add(task)
        tasks.append(task)
    db.session.flush()
    for task in tasks:
        audit.record(therapist, "task_assigned", client, task)
    notify(client, "new_task", "/home")
    return tasks


def occurrence_dates(due_date: date, today: date, repeat: str = "none", times: int = 1) -> list[date]:
    """The due date of each time a task repeats (one date for a task given once)."""
    if repeat not in REPEAT_STEPS:
        raise AssignmentError("Choose how often it repeats.", "repeat")
    step = REPEAT_STEPS[repeat]
    if step is not None and not 1 <= (times or 0) <= MAX_OCCURRENCES:
        raise AssignmentError(f"Choose 1 to {MAX_OCCURRENCES} times.", "times")
    check_due_date(due_date, today)
    return [due_date + step * i for i in range(times)] if step is not None else [due_date]


def change_due_date(therapist: User, task: Assignment, due_date: date, today: date) -> None:
    if not policy.can_change_due_date(therapist, task):
        raise AssignmentError("Only an open task's due date can change.")
    check_due_date(due_date, today)
    task.due_date = due_date
    audit.record(therapist, "task_due_date_changed", task.client, task)
    db.session.commit()


def cancel_assignment(therapist: User, task: Assignment) -> None:
    """Cancel an open task. A draft she started is kept, and comes back if it is reopened."""
    if not policy.can_cancel_assignment(therapist, task):
        raise AssignmentError("Only an open task can be cancelled.")
    _change_status(task, TASK_OPEN, TASK_CANCELLED, utcnow(), "Only an open task can be cancelled.")
    audit.record(therapist, "task_cancelled", task.client, task)
    db.session.commit()


def reopen_assignment(therapist: User, task: Assignment) -> None:
    if not policy.can_reopen_assignment(therapist, task):
        raise AssignmentError("Only a cancelled task can be reopened.")
    _change_status(task, TASK_CANCELLED, TASK_OPEN, None, "Only a cancelled task can be reopened.")
    audit.record(therapist, "task_reopened", task.client, task)
    db.session.commit()


def _change_status(task: Assignment, was: str, becomes: str, cancelled_at, refused: str) -> None:
    """One conditional write: the task changes only if it still has the status read (a send
    that landed meanwhile is never cancelled over; the client's send re-checks the same way)."""
    changed = db.session.execute(
        sa.update(Assignment).where(Assignment.id == task.id, Assignment.status == was)
        .values(status=becomes, cancelled_at=cancelled_at).execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise AssignmentError(refused)
    set_committed_value(task, "status", becomes)
    set_committed_value(task, "cancelled_at", cancelled_at)


@dataclass
class TaskBoard:
    """The client's tasks by when they are due, with counts."""

    overdue: list[Assignment] = field(default_factory=list)
    due_today: list[Assignment] = field(default_factory=list)
    upcoming: list[Assignment] = field(default_factory=list)
    done: list[Assignment] = field(default_factory=list)
    done_count: int = 0
    new_feedback_count: int = 0
    overdue_count: int = 0
    due_today_count: int = 0
    upcoming_count: int = 0

    @property
    def open_count(self) -> int:
        return self.overdue_count + self.due_today_count + self.upcoming_count

    @property
    def open_shown(self) -> int:
        return len(self.overdue) + len(self.due_today) + len(self.upcoming)


# What a list of tasks shows of each task and its reflection: never the encrypted note and
# answers (decrypted for nothing), nor the instructions and prompts the task page alone shows.
LISTED = (defer(Assignment.note), defer(Assignment.instructions), defer(Assignment.prompts))


def task_board(client: User, today: date) -> TaskBoard:
    """One statement, whatever the number of tasks: her OPEN_SHOWN open tasks due soonest and
    her DONE_SHOWN latest done ones, each with its reflection, and her counts (of all of them)
    beside each row."""
    board = TaskBoard()
    scope = policy.visible_assignments(client)
    sent = (Reflection.author_id == client.id, Reflection.status == "submitted",
            Reflection.deleted_at.is_(None))
    new_feedback = sa.and_(Reflection.last_feedback_at.is_not(None),
                           sa.or_(Reflection.feedback_seen_at.is_(None),
                                  Reflection.feedback_seen_at < Reflection.last_feedback_at))
    # Each subquery reads its own tables (correlate(None)), never the outer row's.
    is_open = Assignment.status == TASK_OPEN
    open_tasks = scope.with_only_columns(sa.func.count()).where(is_open).correlate(None)
    counts = [sa.select(sa.func.count(Reflection.id)).where(*sent).correlate(None),
              sa.select(sa.func.count(Reflection.id)).where(*sent, new_feedback).correlate(None),
              open_tasks.where(Assignment.due_date < today),
              open_tasks.where(Assignment.due_date == today),
              open_tasks.where(Assignment.due_date > today)]
    done_ids = (scope.with_only_columns(Assignment.id).where(Assignment.status == TASK_SUBMITTED)
                .join(Assignment.reflection).order_by(Reflection.submitted_at.desc()).limit(DONE_SHOWN)
                .correlate(None))
    open_ids = (scope.with_only_columns(Assignment.id).where(is_open)
                .order_by(Assignment.due_date, Assignment.id).limit(OPEN_SHOWN).correlate(None))
    rows = db.session.execute(
        scope.outerjoin(Assignment.reflection)
        .where(sa.or_(Assignment.id.in_(open_ids.scalar_subquery()),
                      Assignment.id.in_(done_ids.scalar_subquery())))
        .add_columns(*(count.scalar_subquery() for count in counts))
        .options(*LISTED, contains_eager(Assignment.reflection).defer(Reflection.answers))
        # Open ones by due date, then done ones newest sent first (each list's own order).
        .order_by(sa.case((is_open, 0), else_=1), sa.case((is_open, Assignment.due_date)),
                  sa.case((is_open, Assignment.id)), Reflection.submitted_at.desc())
    ).all()
    for task, *_ in rows:
        if task.status != TASK_OPEN:
            board.done.append(task)
        elif task.due_date < today:
            board.overdue.append(task)
        elif task.due_date == today:
            board.due_today.append(task)
        else:
            board.upcoming.append(task)
    figures = rows[0][1:] if rows else db.session.execute(  # no task at all (rare): the counts alone
        sa.select(*(count.scalar_subquery() for count in counts))).one()
    (board.done_count, board.new_feedback_count, board.overdue_count, board.due_today_count,
     board.upcoming_count) = figures
    return board


def client_tasks(therapist: User, client: User, page: int):
    """A page of one client's tasks for her therapist, newest due date first."""
    query = (policy.visible_assignments(therapist).where(Assignment.client_id == client.id)
             .options(*LISTED, joinedload(Assignment.reflection).defer(Reflection.answers))
             .order_by(Assignment.due_date.desc(), Assignment.id.desc()))
    return paging.paginate(query, page, TASKS_PER_PAGE)
