"""Builders for pairs: linked (or pending) pairs, pair exercises, and signed-in test clients
for each person, so that a test can act and look through the HTTP layer as anyone."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.homework.families import sharing_for
from app.models import (
    TASK_OPEN,
    Assignment,
    AuditEvent,
    Exercise,
    Pair,
    PairExercise,
    PairMember,
    Reflection,
    User,
)
from app.pairs import services as pair_services
from tests.builders_homework import FULL_RATINGS, built_in
from tests.conftest import login


def link(therapist: User, first: User, second: User, labels=("mother", "daughter"),
         accepted_by=("first", "second")) -> Pair:
    """Propose a link through the service and let the named members accept it."""
    pair = pair_services.link_pair(therapist, first, labels[0], second, labels[1])
    for who in accepted_by:
        pair_services.respond(first if who == "first" else second, pair, accept=True)
    return pair


def give_to_pair(therapist: User, pair: Pair, exercise: Exercise | None = None,
                 reveal_together: bool = False, note: str = "") -> tuple[PairExercise, dict]:
    """One pair exercise through the service; returns it and {user_id: task}."""
    exercise = exercise or built_in("stay_present")
    today = max(today_for(m.user) for m in pair.members)
    [pair_exercise] = pair_services.assign_to_pair(therapist, pair, exercise, due_date=today,
                                                 today=today, note=note,
                                                 reveal_together=reveal_together)
    return pair_exercise, {t.client_id: t for t in pair_exercise.tasks}


def force_pair_exercise(therapist: User, pair: Pair, exercise: Exercise | None = None,
                        reveal_together: bool = False) -> tuple[PairExercise, dict]:
    """A pair exercise written straight to the database, bypassing the service's refusal (for
    defence-in-depth cells: content that must stay hidden even if it exists)."""
    exercise = exercise or built_in("stay_present")
    pair_exercise = PairExercise(pair_id=pair.id, therapist_id=therapist.id, title=exercise.title,
                                 reveal_together=reveal_together)
    db.session.add(pair_exercise)
    db.session.flush()
    tasks = {}
    for member in pair.members:
        task = Assignment(client_id=member.user_id, therapist_id=therapist.id,
                          exercise_id=exercise.id, family=exercise.family, title=exercise.title,
                          instructions=exercise.instructions, prompts=list(exercise.prompts),
                          sharing=sharing_for(exercise.family),
                          due_date=today_for(member.user) + timedelta(days=1), status=TASK_OPEN,
                          pair_exercise_id=pair_exercise.id)
        db.session.add(task)
        tasks[member.user_id] = task
    db.session.commit()
    return pair_exercise, tasks


def submit_form(answer: str, *, resentment: int = 3, closeness: int = 7,
                stayed_present: str = "partly", action: str = "submit") -> dict:
    return {"answer_0": answer, "resentment": str(resentment), "closeness": str(closeness),
            "stayed_present": stayed_present, "action": action}


def signed_in(app, user: User | None):
    """A fresh test client (its own cookie jar), signed in as `user` (None: anonymous)."""
    browser = app.test_client()
    if user is not None:
        login(browser, user)
    return browser


def text_of(response) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, whitespace squeezed."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def flashes(response) -> list[str]:
    html = response.get_data(as_text=True)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", m)).split())
            for m in re.findall(r'<p class="flash flash-\w+"[^>]*>(.*?)</p>', html, re.DOTALL)]


def snapshot() -> dict:
    """Every row an action on pairs might change."""
    db.session.expire_all()
    return {
        "pairs": sorted((p.id, p.ended_at, p.end_reason) for p in db.session.scalars(sa.select(Pair))),
        "members": sorted((m.id, m.pair_id, m.user_id, m.label, m.accepted_at)
                          for m in db.session.scalars(sa.select(PairMember))),
        "pair_exercises": sorted(pe.id for pe in db.session.scalars(sa.select(PairExercise))),
        "tasks": sorted((t.id, t.client_id, t.status) for t in db.session.scalars(sa.select(Assignment))),
        "reflections": sorted((r.id, r.status, r.shared_at, tuple(r.answers))
                              for r in db.session.scalars(sa.select(Reflection))),
    }


def audit_count(action: str, **where) -> int:
    query = sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    for column, value in where.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return db.session.scalar(query)


RATINGS = FULL_RATINGS
