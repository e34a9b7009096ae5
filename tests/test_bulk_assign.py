"""Assigning one exercise to several clients (and pairs) at once from the library: exactly one
task per person chosen, each told as a single assignment tells her, all or nothing, once."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.homework import bulk_assign
from app.models import Assignment, AuditEvent, Notification, OnceKey, utcnow
from tests.builders_homework import built_in
from tests.builders_pairs import flashes, link, text_of
from tests.conftest import login, make_client


def tasks_of(user) -> list[Assignment]:
    return list(db.session.scalars(sa.select(Assignment).where(Assignment.client_id == user.id)))


def new_task_notices(user) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.user_id == user.id, Notification.kind == "new_task"))


def form_key(page: str) -> str:
    return re.search(r'name="once" type="hidden" value="([^"]+)"', page).group(1)


def post(client, exercise, clients=(), pairs=(), due=None, **fields):
    """Post the form; by default due in three days (a future day in every time zone)."""
    due = due or utcnow().date() + timedelta(days=3)
    data = {"clients": [str(getattr(c, "id", c)) for c in clients], "pairs": [str(p.id) for p in pairs],
            "due_date": due.isoformat(), **fields}
    return client.post(f"/exercises/{exercise.id}/assign", data=data)


@pytest.fixture
def caseload(people):
    """Ruth's clients Maria and Elena (from `people`), Iris, and Nora whose account is closed."""
    ruth = people["therapist"]
    return dict(people, iris=make_client(ruth, "Iris"), nora=make_client(ruth, "Nora", closed_at=utcnow()))


def test_each_chosen_client_gets_one_task_and_one_notice_and_nobody_else_anything(client, caseload):
    ruth, maria, elena, iris = (caseload[k] for k in ("therapist", "client", "other_client_same_therapist", "iris"))
    exercise = built_in("stay_present")
    login(client, ruth)
    page = client.get(f"/exercises/{exercise.id}/assign")
    text = text_of(page)
    assert all(c.name in text for c in (maria, elena, iris))
    assert caseload["nora"].name not in text and caseload["other_client"].name not in text  # closed; not hers

    due = today_for(ruth) + timedelta(days=5)
    response = post(client, exercise, [maria, iris], due=due, note="For this week.")
    assert response.status_code == 302 and response.location.endswith(f"/exercises/{exercise.id}")
    assert f"“{exercise.title}” assigned to {maria.name} and {iris.name}." in flashes(client.get(response.location))
    for person in (maria, iris):
        [task] = tasks_of(person)
        assert (task.title, task.prompts, task.due_date, task.note) == (exercise.title, exercise.prompts, due,
                                                                         "For this week.")
        assert new_task_notices(person) == 1
    assert tasks_of(elena) == [] and new_task_notices(elena) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "task_assigned")) == 2


def test_the_same_form_posted_twice_assigns_once(client, caseload):
    ruth, maria, iris = caseload["therapist"], caseload["client"], caseload["iris"]
    exercise = built_in("choose_battles")
    login(client, ruth)
    key = form_key(client.get(f"/exercises/{exercise.id}/assign").get_data(as_text=True))
    first = post(client, exercise, [maria, iris], once=key)
    again = post(client, exercise, [maria, iris], once=key)
    assert first.status_code == again.status_code == 302
    assert f"assigned to {maria.name} and {iris.name}." in " ".join(flashes(client.get(again.location)))
    assert len(tasks_of(maria)) == len(tasks_of(iris)) == 1
    assert new_task_notices(maria) == new_task_notices(iris) == 1


@pytest.mark.parametrize("who,message", [
    ([], "Choose at least one client or pair."),
    (["other_client"], "One of the people chosen is not one of your clients. Nothing was assigned."),
    (["abc"], "One of the people chosen is not one of your clients. Nothing was assigned."),
    (["99999999999999999999"], "One of the people chosen is not one of your clients. Nothing was assigned."),
    (["nora"], "’s account is closed, so nothing was assigned."),
])
def test_nobody_chosen_someone_elses_client_or_a_closed_account_assigns_nothing(client, caseload, who, message):
    ruth, maria = caseload["therapist"], caseload["client"]
    chosen = [maria] + [caseload.get(k, k) for k in who] if who else []
    login(client, ruth)
    response = post(client, built_in(), chosen, due=today_for(ruth) + timedelta(days=2))
    assert response.status_code == 200 and message in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OnceKey)) == 0


def test_a_past_date_is_refused(client, caseload):
    ruth = caseload["therapist"]
    login(client, ruth)
    response = post(client, built_in(), [caseload["client"]], due=today_for(ruth) - timedelta(days=1))
    assert response.status_code == 200 and "Choose today or a later date." in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 0


def test_a_pair_gets_one_pair_exercise_in_each_members_wording_beside_single_clients(client, caseload):
    ruth, maria, elena, iris = (caseload[k] for k in ("therapist", "client", "other_client_same_therapist", "iris"))
    pair = link(ruth, maria, elena)  # Maria the mother, Elena the daughter
    exercise = built_in("growing_up")
    login(client, ruth)
    assert f"{maria.name} (mother) &amp; {elena.name} (daughter)" in \
        client.get(f"/exercises/{exercise.id}/assign").get_data(as_text=True)

    refused = post(client, exercise, [maria], pairs=[pair])
    assert "chosen both alone and as one of a pair" in text_of(refused)
    assert tasks_of(maria) == []

    response = post(client, exercise, [iris], pairs=[pair], reveal_together="y")
    assert response.status_code == 302
    [mother], [daughter], [alone] = tasks_of(maria), tasks_of(elena), tasks_of(iris)
    assert mother.prompts == exercise.member_prompts["mother"]
    assert daughter.prompts == exercise.member_prompts["daughter"]
    assert mother.pair_exercise_id == daughter.pair_exercise_id and mother.pair_exercise.reveal_together
    assert alone.pair_exercise_id is None and alone.prompts == exercise.prompts
    assert [new_task_notices(p) for p in (maria, elena, iris)] == [1, 1, 1]


def test_it_is_all_or_nothing(caseload, monkeypatch):
    """A failure after some tasks were written leaves none of them, nor the form's key."""
    ruth, maria, elena, iris = (caseload[k] for k in ("therapist", "client", "other_client_same_therapist", "iris"))
    pair = link(ruth, maria, elena)

    def fail(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(bulk_assign, "give_to_pair", fail)
    with pytest.raises(RuntimeError):
        bulk_assign.assign_to_many(ruth, built_in(), client_ids=[iris.id], pair_ids=[pair.id],
                                   due_date=today_for(ruth) + timedelta(days=1), once_key="k" * 24)
    db.session.expire_all()
    assert tasks_of(iris) == [] and new_task_notices(iris) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OnceKey)) == 0
