"""Homework for seed-scale: tasks with their reflections, feedback and notices, over about a year."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa

from app.extensions import db
from app.homework.families import sharing_for
from app.models import (
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    SHARING_AUTHOR_CHOICE,
    STAYED_PRESENT_CHOICES,
    TASK_OPEN,
    TASK_SUBMITTED,
    Exercise,
)
from app.ops.scale_texts import ENDINGS, FEEDBACK, MIDDLES, OPENINGS, SHORT
from app.ops.scale_writer import Writer

SPAN_DAYS = 360  # tasks and sessions spread over about the last year


def spread(total: int, parts: int, index: int) -> int:
    """The share of `total` for part `index` when spread as evenly as possible."""
    return total // parts + (1 if index < total % parts else 0)


def at(day: date, hour: int, minutes: int = 0) -> datetime:
    """`day` at `hour`:`minutes` UTC."""
    return datetime(day.year, day.month, day.day, hour, minutes, tzinfo=ZoneInfo("UTC"))


class HomeworkSeeder:
    """Writes the tasks of one unit (a pair or a single client) with what follows from them."""

    def __init__(self, sizes: dict, rng: random.Random, writer: Writer, now: datetime, today: date):
        self.sizes, self.rng, self.w, self.now, self.today = sizes, rng, writer, now, today
        self.library = db.session.scalars(
            sa.select(Exercise).where(Exercise.built_in.is_(True)).order_by(Exercise.id)).all()
        if not self.library:
            raise click.ClickException("No built-in exercises: run `flask db upgrade` first.")
        self.last_task_of: int | None = None  # the latest task written (for a reminder's link)

    def for_unit(self, therapist: int, members: list[tuple[int, int]], pair_id: int | None) -> None:
        """Every member's tasks over the last year: the oldest submitted (most with feedback),
        then open ones with a draft, then open ones not started."""
        s, rng = self.sizes, self.rng
        counts = {c: (spread(s["tasks"], s["clients"], i), spread(s["reflections"], s["clients"], i))
                  for c, i in members}
        shortest = min(t for t, _ in counts.values())
        shared_slots = {}  # slot -> (exercise, due date, pair exercise id), for pair exercises
        if pair_id is not None:
            for slot in range(2, shortest, 5):
                exercise = rng.choice(self.library)
                due = self.due_date(slot, shortest)
                pe = self.w.add("pair_exercises", {
                    "pair_id": pair_id, "therapist_id": therapist, "title": exercise.title,
                    "reveal_together": rng.random() < 0.3,
                    "created_at": self.created_for(due)})
                shared_slots[slot] = (exercise, due, pe)
        for label, (client, _) in zip(("mother", "daughter"), members, strict=False):
            tasks, reflections = counts[client]
            drafts = 0 if reflections < 2 else min(reflections - 1, max(1, round(tasks / 10)))
            submitted = reflections - drafts
            self.last_task_of = None
            for slot in range(tasks):
                if slot in shared_slots:
                    exercise, due, pe = shared_slots[slot]
                else:
                    exercise, due, pe = rng.choice(self.library), self.due_date(slot, tasks), None
                state = ("submitted" if slot < submitted else
                         "draft" if slot < reflections else "open")
                self.task(therapist, client, exercise, due, state, pe,
                          label if pair_id is not None else None)
            self.notifications(client)

    def due_date(self, slot: int, tasks: int) -> date:
        """The due date of task `slot` of `tasks`: spread evenly from a year ago to two weeks ahead."""
        first = self.today - timedelta(days=SPAN_DAYS)
        return first + timedelta(days=int((slot + 0.5) * (SPAN_DAYS + 14) / tasks))

    def created_for(self, due: date) -> datetime:
        """When a task due on `due` was set: a week before, and never in the last four days."""
        return min(at(due - timedelta(days=7), 10), self.now - timedelta(days=4))

    def prompts_for(self, exercise: Exercise, label: str | None) -> list:
        """The exercise's prompts as worded for a pair member (mother, daughter), else the plain ones."""
        worded = (exercise.member_prompts or {}).get(label) if label else None
        if isinstance(worded, list) and len(worded) == len(exercise.prompts) and all(worded):
            return list(worded)
        return list(exercise.prompts)

    def answers(self, count: int, complete: bool = True) -> list[str]:
        """A made-up story for the first prompt and short answers (or blanks) for the rest."""
        rng = self.rng
        first = f"{rng.choice(OPENINGS)} {rng.choice(MIDDLES)} {rng.choice(ENDINGS)}"
        rest = [rng.choice(SHORT) if complete else "" for _ in range(count - 1)]
        return [first] + rest

    def task(self, therapist, client, exercise, due, state, pair_exercise_id, label) -> None:
        """One task, and its reflection as `state` says: submitted (maybe reviewed), draft or none."""
        rng = self.rng
        prompts = self.prompts_for(exercise, label)
        created = self.created_for(due)
        task_id = self.w.add("assignments", {
            "client_id": client, "therapist_id": therapist, "exercise_id": exercise.id,
            "exercise_version": exercise.version, "family": exercise.family,
            "title": exercise.title, "instructions": exercise.instructions, "prompts": prompts,
            "sharing": sharing_for(exercise.family), "note": "", "due_date": due,
            "series_key": None, "occurrence": 1, "occurrences": 1,
            "status": TASK_SUBMITTED if state == "submitted" else TASK_OPEN,
            "created_at": created, "cancelled_at": None, "pair_exercise_id": pair_exercise_id})
        self.last_task_of = task_id
        if state == "open":
            return
        row = {"assignment_id": task_id, "author_id": client, "urgent": False,
               "reviewed_at": None, "feedback_seen_at": None, "last_feedback_at": None,
               "shared_at": None}
        if state == "draft":
            rated = rng.random() < 0.5
            saved = max(created, self.now - timedelta(hours=rng.randint(1, 240)))
            row.update(answers=self.answers(len(prompts), complete=False),
                       resentment=rng.randint(0, 10) if rated else None,
                       closeness=rng.randint(0, 10) if rated else None,
                       stayed_present=rng.choice(STAYED_PRESENT_CHOICES) if rated else None,
                       status=REFLECTION_DRAFT, draft_saved_at=saved, submitted_at=None)
            self.w.add("reflections", row)
            return
        sent = min(at(due, 18) - timedelta(hours=rng.randint(0, 72)),
                   self.now - timedelta(hours=rng.randint(1, 48)))
        row.update(answers=self.answers(len(prompts)), resentment=rng.randint(0, 10),
                   closeness=rng.randint(0, 10), stayed_present=rng.choice(STAYED_PRESENT_CHOICES),
                   status=REFLECTION_SUBMITTED, draft_saved_at=sent - timedelta(minutes=rng.randint(1, 120)),
                   submitted_at=sent, urgent=rng.random() < 0.02)
        age = self.now - sent
        reviewed = rng.random() < (0.97 if age > timedelta(days=10) else 0.4)
        if reviewed:
            row["reviewed_at"] = min(sent + timedelta(minutes=rng.randint(120, 5760)),
                                     self.now - timedelta(minutes=10))
        if pair_exercise_id and sharing_for(exercise.family) == SHARING_AUTHOR_CHOICE \
                and rng.random() < 0.5:
            row["shared_at"] = sent + timedelta(minutes=5)
        reflection_id = self.w.new_id("reflections")
        if reviewed and rng.random() < 0.8:
            row["last_feedback_at"] = row["reviewed_at"]
            seen = row["reviewed_at"] + timedelta(days=1)
            row["feedback_seen_at"] = seen if seen < self.now else None
        self.w.add("reflections", {"id": reflection_id, **row})
        if row["last_feedback_at"] is not None:
            self.w.add("feedback", {"reflection_id": reflection_id, "therapist_id": therapist,
                                    "body": rng.choice(FEEDBACK),
                                    "created_at": row["last_feedback_at"]})
        elif row["reviewed_at"] is None:
            self.w.add("notifications", {
                "user_id": therapist, "kind": "new_reflection",
                "link": f"/reflections/{reflection_id}", "created_at": sent,
                "read_at": None, "emailed_at": None})

    def notifications(self, client: int) -> None:
        """A few per client: an old read one, a recent unread new task, an agenda item or two."""
        rng = self.rng
        self.w.add("notifications", {"user_id": client, "kind": "new_task", "link": "/home",
                                     "created_at": self.now - timedelta(days=30),
                                     "read_at": self.now - timedelta(days=29), "emailed_at": None})
        self.w.add("notifications", {"user_id": client, "kind": "new_task", "link": "/home",
                                     "created_at": self.now - timedelta(hours=rng.randint(1, 72)),
                                     "read_at": None, "emailed_at": None})
        if rng.random() < 0.3 and self.last_task_of:
            self.w.add("notifications", {
                "user_id": client, "kind": "reminder_overdue", "link": f"/tasks/{self.last_task_of}",
                "created_at": self.now - timedelta(hours=rng.randint(1, 48)), "read_at": None,
                "emailed_at": None})

    def submit_tasks(self, therapist: int, client: int, count: int) -> None:
        """Open tasks with a complete draft (answers and ratings), ready to be sent."""
        rng = self.rng
        for n in range(count):
            exercise = self.library[n % len(self.library)]
            due = self.today + timedelta(days=n % 28)
            task_id = self.w.add("assignments", {
                "client_id": client, "therapist_id": therapist, "exercise_id": exercise.id,
                "exercise_version": exercise.version, "family": exercise.family,
                "title": exercise.title, "instructions": exercise.instructions,
                "prompts": list(exercise.prompts), "sharing": sharing_for(exercise.family),
                "note": "", "due_date": due, "series_key": None, "occurrence": 1,
                "occurrences": 1, "status": TASK_OPEN, "created_at": self.now - timedelta(days=1),
                "cancelled_at": None, "pair_exercise_id": None})
            self.w.add("reflections", {
                "assignment_id": task_id, "author_id": client,
                "answers": self.answers(len(exercise.prompts)), "resentment": rng.randint(0, 10),
                "closeness": rng.randint(0, 10), "stayed_present": rng.choice(STAYED_PRESENT_CHOICES),
                "status": REFLECTION_DRAFT, "draft_saved_at": self.now - timedelta(hours=1),
                "submitted_at": None, "urgent": False, "reviewed_at": None,
                "feedback_seen_at": None, "last_feedback_at": None, "shared_at": None})
