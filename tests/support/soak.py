"""A soak: many clients autosave drafts and send reflections in parallel over HTTP; every write
the server acknowledged is recorded, then checked against the database."""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from app.extensions import db
from app.models import REFLECTION_SUBMITTED, TASK_SUBMITTED, Assignment, AuditEvent, Notification, Reflection
from tests.support.processes import Browser, Response

SENT = "Sent to your therapist"
LOCKED = "database is locked"
STAYED = ("yes", "partly", "no")


@dataclass
class Write:
    kind: str            # "draft" or "submit"
    answers: list[str]
    ratings: dict
    acknowledged: bool = False


@dataclass
class TaskPlan:
    task_id: int
    prompts: int
    client_email: str
    writes: list[Write] = field(default_factory=list)

    def last_acknowledged(self) -> Write | None:
        for write in reversed(self.writes):
            if write.acknowledged:
                return write
        return None

    def possible_states(self) -> list[Write]:
        """What the database may hold: the last acknowledged write, or a later one whose
        answer never arrived (the server may or may not have stored it)."""
        states = []
        for write in reversed(self.writes):
            states.append(write)
            if write.acknowledged:
                break
        return states


class Stats:
    """Every response, counted; anything that is not a clean answer is kept as an error."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = 0
        self.statuses: Counter = Counter()
        self.acknowledged = Counter()
        self.errors: list[str] = []

    def record(self, what: str, response: Response | None, error: Exception | None = None) -> None:
        with self._lock:
            self.requests += 1
            if response is None:
                self.errors.append(f"{what}: {type(error).__name__}: {error}")
                return
            self.statuses[response.status] += 1
            if response.status >= 500 or LOCKED in response.body:
                self.errors.append(f"{what}: {response.status} {response.body[:300]!r}")

    def acknowledge(self, kind: str) -> None:
        with self._lock:
            self.acknowledged[kind] += 1

    def unexpected(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)


def _call(stats: Stats, what: str, fn, *args, **kwargs) -> Response | None:
    try:
        response = fn(*args, **kwargs)
    except Exception as error:  # a timeout or a reset connection is a failure of the soak
        stats.record(what, None, error)
        return None
    stats.record(what, response)
    return response


def _answers(plan: TaskPlan, version: int, who: str) -> list[str]:
    marker = uuid.uuid4().hex
    return [f"{who} task {plan.task_id} version {version} answer {i} [{marker}]"
            + (" and more words" * (version % 7)) for i in range(plan.prompts)]


def _ratings(rng: random.Random) -> dict:
    return {"resentment": rng.randint(0, 10), "closeness": rng.randint(0, 10),
            "stayed_present": rng.choice(STAYED)}


def _fields(answers: list[str], ratings: dict) -> dict:
    data = {f"answer_{i}": text for i, text in enumerate(answers)}
    data.update({name: str(value) for name, value in ratings.items()})
    return data


def autosave(browser: Browser, stats: Stats, plan: TaskPlan, answers, ratings) -> None:
    write = Write("draft", answers, ratings)
    plan.writes.append(write)
    response = _call(stats, "autosave", browser.post, f"/tasks/{plan.task_id}/draft",
                     _fields(answers, ratings),
                     headers={"Accept": "application/json", "X-Requested-With": "fetch"})
    if response is None:
        return
    if response.status == 200 and response.json().get("saved") is True:
        write.acknowledged = True
        stats.acknowledge("draft")
    elif response.status < 500:
        stats.unexpected(f"autosave of task {plan.task_id} refused: {response.status} {response.body[:200]!r}")


def submit(browser: Browser, stats: Stats, plan: TaskPlan, answers, ratings) -> None:
    write = Write("submit", answers, ratings)
    plan.writes.append(write)
    fields = _fields(answers, ratings)
    fields["action"] = "submit"
    response = _call(stats, "submit", browser.post, f"/tasks/{plan.task_id}", fields)
    if response is None:
        return
    if response.status == 200 and SENT in response.body:
        write.acknowledged = True
        stats.acknowledge("submit")
    elif response.status < 500:
        stats.unexpected(f"submit of task {plan.task_id} not sent: {response.status} {response.url}")


def run_client(browser: Browser, stats: Stats, plans: list[TaskPlan], deadline: float,
               seed: int, who: str) -> None:
    """One person at one device: writes her tasks one after the other (as the page's script
    does: one save in flight at a time), sends most of them, sometimes reloads the page."""
    rng = random.Random(seed)
    open_plans = list(plans)
    version = 0
    while time.monotonic() < deadline and open_plans:
        plan = open_plans[0] if len(open_plans) > 1 else open_plans[-1]
        ratings = _ratings(rng)
        for _ in range(rng.randint(2, 8)):
            if time.monotonic() >= deadline:
                return
            version += 1
            autosave(browser, stats, plan, _answers(plan, version, who), ratings)
            if rng.random() < 0.15:
                _call(stats, "page", browser.get, f"/tasks/{plan.task_id}")
        # The last task stays open to the end, so that the soak never runs out of work.
        if len(open_plans) > 1 and rng.random() < 0.8 and time.monotonic() < deadline:
            version += 1
            submit(browser, stats, plan, _answers(plan, version, who), ratings)
            open_plans.remove(plan)
        elif len(open_plans) > 1:
            open_plans.remove(plan)
            open_plans.append(plan)


def run_soak(base: str, people: dict[str, list[list[TaskPlan]]], password: str, seconds: float,
             stats: Stats) -> float:
    """Sign every device in, then let them all write for `seconds`; returns the time taken."""
    devices = []
    for email, shares in people.items():
        for plans in shares:
            browser = Browser(base)
            response = _call(stats, "sign in", browser.sign_in, email, password)
            assert response is not None and response.status == 302, f"could not sign in {email}"
            browser.fetch_csrf("/home")
            devices.append((browser, plans, email))
    start = time.monotonic()
    deadline = start + seconds
    threads = [threading.Thread(target=run_client, name=f"soak-{n}",
                                args=(browser, stats, plans, deadline, n, f"{email}#{n}"))
               for n, (browser, plans, email) in enumerate(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
        assert not thread.is_alive(), "a soak client hung"
    return time.monotonic() - start


def _ratings_of(reflection: Reflection) -> dict:
    return {"resentment": reflection.resentment, "closeness": reflection.closeness,
            "stayed_present": reflection.stayed_present}


def check_database(plans: list[TaskPlan]) -> list[str]:
    """Every acknowledged write against what the database holds; the problems found."""
    problems = []
    db.session.remove()
    task_ids = [plan.task_id for plan in plans]
    rows = Counter(db.session.scalars(
        sa.select(Reflection.assignment_id).where(Reflection.assignment_id.in_(task_ids))))
    for task_id, count in rows.items():
        if count > 1:
            problems.append(f"task {task_id}: {count} reflections")
    for plan in plans:
        expected = plan.last_acknowledged()
        task = db.session.get(Assignment, plan.task_id)
        reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == plan.task_id))
        if expected is None:
            if reflection is not None and not plan.writes:
                problems.append(f"task {plan.task_id}: a reflection nobody wrote")
            continue
        if reflection is None:
            problems.append(f"task {plan.task_id}: acknowledged {expected.kind} but no reflection (lost)")
            continue
        stored = (reflection.answers, _ratings_of(reflection), reflection.status == REFLECTION_SUBMITTED)
        candidates = [(w.answers, w.ratings, w.kind == "submit") for w in plan.possible_states()]
        if stored not in candidates:
            problems.append(
                f"task {plan.task_id}: lost write: stored {reflection.status} {reflection.answers!r}, "
                f"last acknowledged {expected.kind} {expected.answers!r}")
            continue
        submitted = reflection.status == REFLECTION_SUBMITTED
        if expected.kind == "submit" or submitted:
            if task.status != TASK_SUBMITTED:
                problems.append(f"task {plan.task_id}: reflection sent but task is {task.status}")
            audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "reflection_submitted", AuditEvent.object_type == "Reflection",
                AuditEvent.object_id == reflection.id))
            notes = db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
                Notification.kind == "new_reflection", Notification.link == f"/reflections/{reflection.id}"))
            if (audits, notes) != (1, 1):
                problems.append(f"task {plan.task_id}: {audits} audit rows and {notes} notifications for one send")
        elif task.status != "open":
            problems.append(f"task {plan.task_id}: only drafts acknowledged but the task is {task.status}")
    db.session.remove()
    return problems
