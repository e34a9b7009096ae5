"""Several gunicorn workers, many clients autosaving and sending at once (SQLite and PostgreSQL):
no acknowledged write is lost, no "database is locked", no reflection sent twice.

The soak lasts CG_SOAK_SECONDS (60 by default; a few seconds for a quick local run)."""
from __future__ import annotations

import os
import re
import threading
from copy import deepcopy

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Notification, Reflection
from tests.builders_homework import assign
from tests.conftest import PASSWORD, make_client, make_therapist
from tests.support.processes import Browser, start_gunicorn
from tests.support.soak import LOCKED, SENT, Stats, TaskPlan, check_database, run_soak

SOAK_SECONDS = float(os.environ.get("CG_SOAK_SECONDS", "60"))
CLIENTS = 12
TWO_DEVICES = 4          # the first clients write from two devices at once (their own tasks each)
TASKS_PER_CLIENT = 24
WORKERS = 3
ALREADY_SENT = ("This reflection was already sent; nothing was sent twice.",
                "You have already sent this reflection; it cannot be changed.")


@pytest.fixture(scope="module")
def _server(_app, tmp_path_factory):
    """gunicorn (3 gthread workers) on the suite's migrated database; stateless, so shared by
    the tests of this module (each test starts from emptied tables)."""
    with _app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    gunicorn = start_gunicorn(url, tmp_path_factory.mktemp("soak") / "gunicorn.log",
                              workers=WORKERS, threads=4)
    try:
        yield gunicorn
    finally:
        gunicorn.stop()


@pytest.fixture
def server(app, _server):
    db.session.commit()
    db.session.remove()
    return _server


def _log_problems(log: str) -> list[str]:
    bad = re.compile(r"database is locked|database unavailable|Traceback|WORKER TIMEOUT|"
                     r"OperationalError|IntegrityError| 50[0-9] ", re.I)
    return [line for line in log.splitlines() if bad.search(line)]


def _people():
    """12 clients of two therapists, 24 open tasks each, through the app's own services."""
    therapists = [make_therapist("Ruth"), make_therapist("Sam")]
    people: dict[str, list[list[TaskPlan]]] = {}
    plans: list[TaskPlan] = []
    for n in range(CLIENTS):
        therapist = therapists[n % 2]
        client = make_client(therapist, f"Soak{n}")
        mine = [TaskPlan(task.id, len(task.prompts), client.email)
                for task in (assign(therapist, client, due=7) for _ in range(TASKS_PER_CLIENT))]
        plans += mine
        devices = 2 if n < TWO_DEVICES else 1
        people[client.email] = [mine[d::devices] for d in range(devices)]
    db.session.commit()
    return people, plans


def test_many_clients_writing_at_once_lose_nothing(app, server):
    people, plans = _people()
    stats = Stats()
    elapsed = run_soak(server.base, people, PASSWORD, SOAK_SECONDS, stats)

    backend = db.engine.dialect.name
    print(f"\nsoak on {backend}: {len(plans)} tasks, {sum(len(v) for v in people.values())} devices, "
          f"{elapsed:.1f} s, {stats.requests} requests ({stats.requests / elapsed:.0f}/s), "
          f"acknowledged {dict(stats.acknowledged)} "
          f"({sum(stats.acknowledged.values()) / elapsed:.0f} writes/s), statuses {dict(stats.statuses)}, "
          f"errors {len(stats.errors)}")
    assert stats.errors == [], stats.errors[:10]
    assert stats.acknowledged["draft"] > 0 and stats.acknowledged["submit"] > 0
    assert _log_problems(server.log()) == []

    assert check_database(plans) == []

    # The check can fail: an acknowledged draft that did not reach the database is found ...
    open_task = next(p for p in plans if p.last_acknowledged() and p.last_acknowledged().kind == "draft")
    tampered = deepcopy(open_task)
    tampered.last_acknowledged().answers = ["text the server said it saved"] * tampered.prompts
    assert any("lost write" in p for p in check_database([tampered]))
    # ... and so is a sent reflection whose answers were changed afterwards.
    sent = next(p for p in plans if p.last_acknowledged() and p.last_acknowledged().kind == "submit")
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == sent.task_id))
    reflection.answers = ["changed after sending"] * sent.prompts
    db.session.commit()
    assert any("lost write" in p for p in check_database([sent]))


def _submit_together(browsers, task_id, answers_each):
    barrier = threading.Barrier(len(browsers))
    results = [None] * len(browsers)

    def go(i):
        fields = {f"answer_{n}": text for n, text in enumerate(answers_each[i])}
        fields.update(resentment="4", closeness="6", stayed_present="yes", action="submit")
        barrier.wait()
        results[i] = browsers[i].post(f"/tasks/{task_id}", fields)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_devices_sending_the_same_task_at_the_same_instant_send_it_once(app, server):
    therapist = make_therapist()
    client = make_client(therapist)
    tasks = [assign(therapist, client, due=7) for _ in range(6)]
    task_ids = [(task.id, len(task.prompts)) for task in tasks]
    db.session.commit()
    browsers = []
    for _ in range(2):
        browser = Browser(server.base)
        assert browser.sign_in(client.email, PASSWORD).status == 302
        browser.fetch_csrf("/home")
        browsers.append(browser)

    for task_id, prompts in task_ids:
        answers_each = [[f"device {d} words for {task_id} #{i}" for i in range(prompts)] for d in range(2)]
        results = _submit_together(browsers, task_id, answers_each)
        assert all(r is not None and r.status == 200 and LOCKED not in r.body for r in results), \
            [(r.status, r.body[:300]) if r else None for r in results]
        winners = [i for i, r in enumerate(results) if SENT in r.body]
        assert len(winners) == 1, [r.body[:2000] for r in results]
        loser = results[1 - winners[0]]
        assert any(message in loser.body for message in ALREADY_SENT), loser.body[:3000]

        db.session.remove()
        reflections = db.session.scalars(sa.select(Reflection).where(Reflection.assignment_id == task_id)).all()
        assert len(reflections) == 1
        assert reflections[0].status == "submitted"
        assert reflections[0].answers == answers_each[winners[0]]
        rid = reflections[0].id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "reflection_submitted", AuditEvent.object_id == rid)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.link == f"/reflections/{rid}")) == 1
    assert _log_problems(server.log()) == []
