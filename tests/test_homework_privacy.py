"""Privacy of the homework loop: someone else's task, draft, reflection, feedback or exercise
answers 404 to every other client and therapist, for every URL and method; anonymous visitors
are sent to the login page; and nothing changes."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Addendum, Assignment, Exercise, Feedback, PrivateAnnotation, Reflection
from tests.builders_homework import assign, built_in, make_exercise, save_draft, submit
from tests.conftest import login

SECRET_ANSWER = "SECRET-ANSWER-1c2d"
SECRET_DRAFT = "SECRET-DRAFT-9e8f"
SECRET_FEEDBACK = "SECRET-FEEDBACK-4b5a"
SECRET_NOTE = "SECRET-TASK-NOTE-77aa"


@pytest.fixture
def world(people):
    """Maria (Ruth's client) with an open task holding a draft, a sent reflection with feedback,
    a cancelled task, and Ruth's own exercise."""
    ruth, maria = people["therapist"], people["client"]
    exercise = make_exercise(ruth, title="Ruths own exercise")
    open_task = assign(ruth, maria, exercise, due=2, note=SECRET_NOTE)
    draft = save_draft(maria, open_task, [SECRET_DRAFT])
    sent_task = assign(ruth, maria, built_in("safety"), due=0)
    sent = submit(maria, sent_task, [SECRET_ANSWER])
    db.session.add(Feedback(reflection_id=sent.id, therapist_id=ruth.id, body=SECRET_FEEDBACK))
    cancelled = assign(ruth, maria, due=1)
    cancelled.status = "cancelled"
    db.session.commit()
    return {"open": open_task.id, "draft": draft.id, "sent_task": sent_task.id,
            "sent": sent.id, "cancelled": cancelled.id, "exercise": exercise.id,
            "client": maria.id}


REFLECTION_FORM = {"answer_0": "intruder", "resentment": "1", "closeness": "1",
                   "stayed_present": "yes"}


def requests_for(w) -> list[tuple[str, str, dict]]:
    """Every URL of the feature, aimed at Maria's records."""
    return [
        ("GET", f"/tasks/{w['open']}", {}),
        ("GET", f"/tasks/{w['sent_task']}", {}),
        ("GET", f"/tasks/{w['cancelled']}", {}),
        ("POST", f"/tasks/{w['open']}", {**REFLECTION_FORM, "action": "save"}),
        ("POST", f"/tasks/{w['open']}", {**REFLECTION_FORM, "action": "submit"}),
        ("POST", f"/tasks/{w['open']}/draft", REFLECTION_FORM),
        ("POST", f"/tasks/{w['open']}/due-date", {"due_date": "2031-01-01"}),
        ("POST", f"/tasks/{w['open']}/cancel", {}),
        ("POST", f"/tasks/{w['cancelled']}/reopen", {}),
        ("GET", f"/reflections/{w['sent']}", {}),
        ("GET", f"/reflections/{w['draft']}", {}),
        ("POST", f"/reflections/{w['sent']}/addenda", {"body": "intruder"}),
        ("POST", f"/reflections/{w['sent']}/urgent", {}),
        ("POST", f"/reflections/{w['sent']}/feedback", {"body": "intruder", "mark_reviewed": "y"}),
        ("POST", f"/reflections/{w['sent']}/annotations", {"body": "intruder"}),
        ("POST", f"/reflections/{w['sent']}/reviewed", {}),
        ("GET", f"/clients/{w['client']}/assign", {}),
        ("POST", f"/clients/{w['client']}/assign",
         {"exercise_id": str(w["exercise"]), "due_date": "2031-01-01"}),
        ("GET", f"/exercises/{w['exercise']}", {}),
        ("GET", f"/exercises/{w['exercise']}/edit", {}),
        ("POST", f"/exercises/{w['exercise']}/edit",
         {"title": "intruder", "family": "safety", "instructions": "x", "prompts": "a\nb"}),
        ("POST", f"/exercises/{w['exercise']}/duplicate", {}),
        ("POST", f"/exercises/{w['exercise']}/archive", {}),
    ]


def snapshot():
    """Everything an intruder might try to change."""
    db.session.expire_all()
    return {
        "tasks": sorted((a.id, a.status, a.due_date, a.client_id) for a in db.session.scalars(sa.select(Assignment))),
        "reflections": sorted((r.id, r.status, tuple(r.answers), r.urgent, r.reviewed_at, r.resentment)
                              for r in db.session.scalars(sa.select(Reflection))),
        "addenda": db.session.scalar(sa.select(sa.func.count()).select_from(Addendum)),
        "feedback": db.session.scalar(sa.select(sa.func.count()).select_from(Feedback)),
        "annotations": db.session.scalar(sa.select(sa.func.count()).select_from(PrivateAnnotation)),
        "exercises": sorted((e.id, e.title, e.version, e.archived_at is None, e.owner_id)
                            for e in db.session.scalars(sa.select(Exercise))),
    }


@pytest.mark.parametrize("intruder", ["other_client", "other_client_same_therapist", "other_therapist"])
def test_every_url_answers_404_to_another_person_and_changes_nothing(client, people, world, intruder):
    before = snapshot()
    login(client, people[intruder])
    failures = []
    for method, url, data in requests_for(world):
        response = client.open(url, method=method, data=data)
        body = response.get_data(as_text=True)
        if response.status_code != 404:
            failures.append(f"{method} {url}: {response.status_code}")
        for secret in (SECRET_ANSWER, SECRET_DRAFT, SECRET_FEEDBACK, SECRET_NOTE):
            if secret in body:
                failures.append(f"{method} {url} shows {secret}")
    assert failures == []
    assert snapshot() == before


@pytest.mark.parametrize("method,path_index", [(m, i) for i, (m, _, _) in enumerate(requests_for(
    {k: 1 for k in ("open", "draft", "sent_task", "sent", "cancelled", "exercise", "client")}))])
def test_anonymous_visitors_are_sent_to_login(client, people, world, method, path_index):
    before = snapshot()
    method, url, data = requests_for(world)[path_index]
    response = client.open(url, method=method, data=data)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert snapshot() == before


def test_the_therapist_cannot_read_her_clients_draft(client, people, world):
    login(client, people["therapist"])
    assert client.get(f"/reflections/{world['draft']}").status_code == 404
    for url in (f"/tasks/{world['open']}", f"/clients/{world['client']}", "/review", "/caseload"):
        assert SECRET_DRAFT not in client.get(url).get_data(as_text=True)


def test_the_client_cannot_use_her_therapists_actions_on_her_own_records(client, people, world):
    before = snapshot()
    login(client, people["client"])
    therapist_only = [
        ("POST", f"/tasks/{world['open']}/due-date", {"due_date": "2031-01-01"}),
        ("POST", f"/tasks/{world['open']}/cancel", {}),
        ("POST", f"/tasks/{world['cancelled']}/reopen", {}),
        ("POST", f"/reflections/{world['sent']}/feedback", {"body": "self praise"}),
        ("POST", f"/reflections/{world['sent']}/annotations", {"body": "self note"}),
        ("POST", f"/reflections/{world['sent']}/reviewed", {}),
        ("GET", f"/clients/{world['client']}/assign", {}),
        ("POST", f"/clients/{world['client']}/assign",
         {"exercise_id": str(world["exercise"]), "due_date": "2031-01-01"}),
        ("GET", f"/exercises/{world['exercise']}", {}),
        ("POST", f"/exercises/{world['exercise']}/duplicate", {}),
    ]
    for method, url, data in therapist_only:
        assert client.open(url, method=method, data=data).status_code in (403, 404), url
    assert snapshot() == before


def test_ids_that_do_not_exist_answer_404(client, people):
    login(client, people["therapist"])
    for url in ("/tasks/999999", "/reflections/999999", "/exercises/999999", "/clients/999999/assign",
                "/tasks/99999999999999999999", "/reflections/99999999999999999999"):
        assert client.get(url).status_code == 404, url
    for url in ("/tasks/999999/cancel", "/reflections/999999/feedback",
                "/exercises/999999/duplicate"):
        assert client.post(url).status_code == 404, url
