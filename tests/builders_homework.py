"""Builders for the homework loop: exercises, tasks and reflections made through the services
(or, for bulk data, straight through the ORM)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from html import unescape

import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.homework import reflections as reflection_services
from app.homework import tasks as assignment_services
from app.homework.families import sharing_for
from app.models import REFLECTION_SUBMITTED, TASK_SUBMITTED, Assignment, Exercise, Reflection, User

FULL_RATINGS = {"resentment": 3, "closeness": 7, "stayed_present": "partly"}


def built_in(family: str = "stay_present") -> Exercise:
    """The built-in exercise of one family (the migration puts one of each in every database)."""
    exercise = db.session.scalar(
        sa.select(Exercise).where(Exercise.built_in.is_(True), Exercise.family == family)
        .order_by(Exercise.id).limit(1)
    )
    assert exercise is not None, f"no built-in exercise for {family}"
    return exercise


def make_exercise(therapist: User, title: str = "My own exercise", family: str = "stay_present",
                  prompts: list[str] | None = None, instructions: str = "Try this once.") -> Exercise:
    exercise = Exercise(owner_id=therapist.id, built_in=False, family=family, title=title,
                        instructions=instructions, prompts=prompts or ["First?", "Second?"])
    db.session.add(exercise)
    db.session.commit()
    return exercise


def assign(therapist: User, client: User, exercise: Exercise | None = None,
           due: date | int | None = 0, title: str | None = None, **kwargs) -> Assignment:
    """Give one task through the service. `due` is a date or a day offset from the client's
    today; a past date is allowed here (to build overdue tasks)."""
    exercise = exercise or built_in()
    today = today_for(client)
    due_date = today + timedelta(days=due) if isinstance(due, int) else due
    tasks = assignment_services.assign_exercise(
        therapist, client, exercise, due_date=due_date, today=min(today, due_date), **kwargs)
    task = tasks[0]
    if title is not None:
        task.title = title
        db.session.commit()
    return task


def save_draft(client: User, task: Assignment, answers: list[str] | None = None,
               ratings: dict | None = None) -> Reflection:
    return reflection_services.save_draft(client, task, answers or ["A first draft."], ratings or {})


def submit(client: User, task: Assignment, answers: list[str] | None = None,
           ratings: dict | None = None, urgent: bool = False,
           submitted_at: datetime | None = None) -> Reflection:
    """Send a reflection through the service; `submitted_at` backdates it."""
    reflection, new = reflection_services.submit_reflection(
        client, task, answers or ["What happened, in my words."], ratings or FULL_RATINGS,
        urgent=urgent)
    assert new
    if submitted_at is not None:
        reflection.submitted_at = submitted_at
        db.session.commit()
    return reflection


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


def bulk_tasks(therapist: User, client: User, count: int, exercise: Exercise | None = None,
               submitted_every: int = 2, feedback: bool = True) -> None:
    """Many tasks in one flush: open ones spread over past and future, every `submitted_every`-th
    one submitted with a reflection (and feedback)."""
    from app.models import Feedback

    exercise = exercise or built_in()
    today = today_for(client)
    for i in range(count):
        submitted = submitted_every and i % submitted_every == 0
        task = Assignment(
            client_id=client.id, therapist_id=therapist.id, exercise_id=exercise.id,
            exercise_version=exercise.version, family=exercise.family, title=f"Bulk task {i}",
            instructions=exercise.instructions, prompts=list(exercise.prompts),
            sharing=sharing_for(exercise.family), due_date=today + timedelta(days=(i % 7) - 3),
            status=TASK_SUBMITTED if submitted else "open",
        )
        db.session.add(task)
        if submitted:
            reflection = Reflection(
                assignment=task, author_id=client.id, answers=[f"answer {i}"], resentment=i % 11,
                closeness=5, stayed_present="yes", status=REFLECTION_SUBMITTED,
                submitted_at=days_ago(count - i), draft_saved_at=days_ago(count - i),
                urgent=(i % 5 == 0),
            )
            db.session.add(reflection)
            if feedback:
                db.session.flush()
                now = days_ago(0.5)
                reflection.last_feedback_at = now
                db.session.add(Feedback(reflection_id=reflection.id, therapist_id=therapist.id,
                                        body=f"feedback {i}", created_at=now))
        else:
            db.session.add(Reflection(assignment=task, author_id=client.id, answers=[f"draft {i}"],
                                      draft_saved_at=days_ago(1)))
    db.session.commit()


# --- reading pages ----------------------------------------------------------------------------

def textarea(html: str, name: str) -> str:
    """The text a browser would put in the textarea `name` (the first newline is dropped)."""
    match = re.search(r'<textarea[^>]*\bname="%s"[^>]*>(.*?)</textarea>' % re.escape(name), html,
                      re.DOTALL)
    assert match, f"no textarea {name}"
    value = match.group(1)
    if value.startswith("\r\n"):
        value = value[2:]
    elif value.startswith("\n"):
        value = value[1:]
    return unescape(value)


def checked_value(html: str, name: str) -> str | None:
    for tag in re.findall(r'<input[^>]*\bname="%s"[^>]*>' % re.escape(name), html):
        if re.search(r"\bchecked\b", tag):
            return re.search(r'value="([^"]*)"', tag).group(1)
    return None


def section(html: str, section_id: str) -> str:
    """The HTML of <section id="..."> up to its end."""
    match = re.search(r'<section[^>]*\bid="%s"[^>]*>(.*?)</section>' % re.escape(section_id), html,
                      re.DOTALL)
    assert match, f"no section {section_id}"
    return match.group(1)


def count_in(html: str, section_id: str) -> int:
    match = re.search(r'<a href="#%s">[^<]*<span class="count">(\d+)</span>' % section_id, html)
    assert match, f"no count for {section_id}"
    return int(match.group(1))


def refresh(*objects) -> None:
    """Forget what this test's session knew; requests ran in their own sessions."""
    db.session.expire_all()
    for obj in objects:
        db.session.refresh(obj)
