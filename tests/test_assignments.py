"""Assignments: giving exercises as tasks, managing them, and the client's task board."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.models import Assignment, AuditEvent, User
from tests.builders_homework import (
    assign,
    built_in,
    count_in,
    make_exercise,
    refresh,
    save_draft,
    section,
    submit,
)
from tests.conftest import login, make_client, make_therapist


def tasks_of(client_user) -> list[Assignment]:
    return list(db.session.scalars(sa.select(Assignment).where(Assignment.client_id == client_user.id)
                                   .order_by(Assignment.due_date, Assignment.id)))


def task_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Assignment))


def in_days(user, days: int) -> str:
    return (today_for(user) + timedelta(days=days)).isoformat()


# --- giving a task ---------------------------------------------------------------------------

def test_a_therapist_assigns_an_exercise_to_her_client(client, people):
    therapist, maria = people["therapist"], people["client"]
    exercise = built_in("stay_present")
    login(client, therapist)
    page = client.get(f"/clients/{maria.id}/assign").get_data(as_text=True)
    assert exercise.title in page
    response = client.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": exercise.id, "due_date": in_days(therapist, 3),
        "note": "Try this on Sunday.", "repeat": "none", "times": "1"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/clients/{maria.id}")
    [task] = tasks_of(maria)
    assert task.therapist_id == therapist.id
    assert task.exercise_id == exercise.id and task.exercise_version == exercise.version
    assert task.title == exercise.title and task.prompts == exercise.prompts
    assert task.instructions == exercise.instructions
    assert task.note == "Try this on Sunday."
    assert task.due_date == today_for(therapist) + timedelta(days=3)
    assert task.status == "open" and task.occurrences == 1
    assert task.sharing == "author_choice"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "task_assigned")) == 1
    assert exercise.title in client.get(f"/clients/{maria.id}").get_data(as_text=True)


def test_weekly_three_times_makes_three_tasks_a_week_apart(client, people):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    first = today_for(therapist) + timedelta(days=1)
    response = client.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": built_in().id, "due_date": first.isoformat(), "repeat": "weekly",
        "times": "3"})
    assert response.status_code == 302
    tasks = tasks_of(maria)
    assert [t.due_date for t in tasks] == [first, first + timedelta(days=7), first + timedelta(days=14)]
    assert [t.occurrence for t in tasks] == [1, 2, 3]
    assert {t.occurrences for t in tasks} == {3}
    assert len({t.series_key for t in tasks}) == 1 and tasks[0].series_key


def test_daily_repeats_one_day_apart_and_once_ignores_times(client, people):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    first = today_for(therapist)
    client.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": built_in().id, "due_date": first.isoformat(), "repeat": "daily", "times": "2"})
    assert [t.due_date for t in tasks_of(maria)] == [first, first + timedelta(days=1)]
    client.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": built_in().id, "due_date": first.isoformat(), "repeat": "none", "times": "5"})
    assert task_count() == 3


@pytest.mark.parametrize("field,value,message", [
    ("due_date", "yesterday", "Choose today or a later date."),
    ("due_date", "", "Choose a due date."),
    ("due_date", "not-a-date", "Choose a due date."),
    ("times", "13", "Choose 1 to 12 times."),
    ("times", "0", "Choose 1 to 12 times."),
    ("repeat", "hourly", "Not a valid choice"),
    ("exercise_id", "999999", "Not a valid choice"),
])
def test_bad_assign_input_is_a_form_error_and_nothing_is_created(client, people, field, value, message):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    data = {"exercise_id": built_in().id, "due_date": in_days(therapist, 1), "repeat": "weekly",
            "times": "3"}
    data[field] = in_days(therapist, -1) if value == "yesterday" else value
    response = client.post(f"/clients/{maria.id}/assign", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert task_count() == 0


def test_an_archived_exercise_cannot_be_assigned(client, people):
    therapist = people["therapist"]
    exercise = make_exercise(therapist)
    exercise.archived_at = datetime.now(timezone.utc)
    db.session.commit()
    login(client, therapist)
    response = client.post(f"/clients/{people['client'].id}/assign", data={
        "exercise_id": exercise.id, "due_date": in_days(therapist, 1)})
    assert response.status_code == 200
    assert task_count() == 0


def test_the_note_keeps_its_text_minus_control_characters(client, people):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    response = client.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": built_in().id, "due_date": in_days(therapist, 1),
        "note": "Line one\x00\r\nLine <two>\x07"})
    assert response.status_code == 302
    [task] = tasks_of(maria)
    assert task.note == "Line one\nLine <two>"


def test_assigning_to_someone_elses_client_or_a_missing_one_is_not_found(client, people):
    login(client, people["therapist"])
    data = {"exercise_id": built_in().id, "due_date": in_days(people["therapist"], 1)}
    for client_id in (people["other_client"].id, people["other_therapist"].id, 999_999):
        assert client.get(f"/clients/{client_id}/assign").status_code == 404
        assert client.post(f"/clients/{client_id}/assign", data=data).status_code == 404
    assert task_count() == 0


def test_a_client_cannot_assign(client, people):
    maria = people["client"]
    login(client, maria)
    data = {"exercise_id": built_in().id, "due_date": in_days(maria, 1)}
    assert client.post(f"/clients/{maria.id}/assign", data=data).status_code in (403, 404)
    assert task_count() == 0


def test_a_closed_clients_account_gets_no_new_tasks(client, people):
    maria = people["client"]
    maria.closed_at = datetime.now(timezone.utc)
    db.session.commit()
    login(client, people["therapist"])
    response = client.post(f"/clients/{maria.id}/assign",
                           data={"exercise_id": built_in().id, "due_date": in_days(maria, 1)})
    assert response.status_code in (403, 404)
    assert task_count() == 0


@pytest.mark.parametrize("family,sharing", [("safety", "never"),
                                            ("forgiveness_letter", "therapist_only"),
                                            ("agree_to_disagree", "author_choice")])
def test_the_family_decides_who_may_ever_read_the_task(client, people, family, sharing):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    own = make_exercise(therapist, family=family)
    for exercise in (built_in(family), own):
        client.post(f"/clients/{maria.id}/assign",
                    data={"exercise_id": exercise.id, "due_date": in_days(therapist, 1)})
    assert [t.sharing for t in tasks_of(maria)] == [sharing, sharing]


# --- managing a task -------------------------------------------------------------------------

def test_she_changes_the_due_date_cancels_and_reopens(client, people):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria, due=1)
    login(client, therapist)
    new_due = today_for(therapist) + timedelta(days=5)
    response = client.post(f"/tasks/{task.id}/due-date", data={"due_date": new_due.isoformat()})
    assert response.status_code == 302
    refresh(task)
    assert task.due_date == new_due

    client.post(f"/tasks/{task.id}/due-date", data={"due_date": in_days(therapist, -1)})
    refresh(task)
    assert task.due_date == new_due
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Choose today or a later date." in page

    assert client.post(f"/tasks/{task.id}/cancel").status_code == 302
    refresh(task)
    assert task.status == "cancelled" and task.cancelled_at is not None
    # A cancelled task's due date no longer moves.
    client.post(f"/tasks/{task.id}/due-date", data={"due_date": in_days(therapist, 9)})
    refresh(task)
    assert task.due_date == new_due

    assert client.post(f"/tasks/{task.id}/reopen").status_code == 302
    refresh(task)
    assert task.status == "open" and task.cancelled_at is None


def test_a_submitted_task_cannot_be_cancelled(client, people):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria)
    submit(maria, task)
    login(client, therapist)
    client.post(f"/tasks/{task.id}/cancel")
    client.post(f"/tasks/{task.id}/reopen")
    refresh(task)
    assert task.status == "submitted"


def test_a_send_that_lands_while_she_cancels_is_never_cancelled_over(app, people):
    """The therapist's page read the task open; the client's send commits before the cancel
    writes: the cancel is refused (one conditional write), the task stays sent."""
    from app.homework.tasks import AssignmentError, cancel_assignment

    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria)
    task_id, therapist_id = task.id, therapist.id
    db.session.remove()
    with app.test_request_context("/", method="POST"):
        seen = db.session.get(Assignment, task_id)
        assert seen.status == "open"
        with db.engine.begin() as other:  # her send, committed meanwhile
            other.execute(sa.update(Assignment).where(Assignment.id == task_id).values(status="submitted"))
        with pytest.raises(AssignmentError):
            cancel_assignment(db.session.get(User, therapist_id), seen)
    db.session.remove()
    assert db.session.get(Assignment, task_id).status == "submitted"


def test_cancelling_keeps_her_draft_and_reopening_brings_it_back(client, people):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria)
    save_draft(maria, task, ["Half a thought"])
    login(client, therapist)
    client.post(f"/tasks/{task.id}/cancel")
    client.post(f"/tasks/{task.id}/reopen")
    client.post("/logout")
    login(client, maria)
    assert "Half a thought" in client.get(f"/tasks/{task.id}").get_data(as_text=True)


@pytest.mark.parametrize("action", ["due-date", "cancel", "reopen"])
def test_another_therapist_cannot_manage_the_task(client, people, action):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria, due=1)
    if action == "reopen":
        task.status = "cancelled"
        db.session.commit()
    before = (task.status, task.due_date)
    login(client, people["other_therapist"])
    response = client.post(f"/tasks/{task.id}/{action}", data={"due_date": in_days(maria, 6)})
    assert response.status_code == 404
    refresh(task)
    assert (task.status, task.due_date) == before


@pytest.mark.parametrize("action", ["due-date", "cancel", "reopen"])
def test_the_client_cannot_manage_her_own_task(client, people, action):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria, due=1)
    if action == "reopen":
        task.status = "cancelled"
        db.session.commit()
    before = (task.status, task.due_date)
    login(client, maria)
    response = client.post(f"/tasks/{task.id}/{action}", data={"due_date": in_days(maria, 6)})
    assert response.status_code in (403, 404)
    refresh(task)
    assert (task.status, task.due_date) == before


# --- the client's home -----------------------------------------------------------------------

def test_home_shows_her_tasks_by_when_they_are_due_with_counts(client, people):
    therapist, maria = people["therapist"], people["client"]
    assign(therapist, maria, due=-3, title="Late one")
    assign(therapist, maria, due=-1, title="Late two")
    assign(therapist, maria, due=0, title="Task for today")
    assign(therapist, maria, due=2, title="Soon task")
    assign(therapist, maria, due=30, title="Far task")
    done = assign(therapist, maria, due=0, title="Finished task")
    submit(maria, done)
    cancelled = assign(therapist, maria, due=1, title="Cancelled task")
    cancelled.status = "cancelled"
    db.session.commit()
    # Someone else's tasks never show up.
    assign(therapist, people["other_client_same_therapist"], due=0, title="Task for Elena")

    login(client, maria)
    page = client.get("/home").get_data(as_text=True)
    assert count_in(page, "overdue") == 2
    assert count_in(page, "today") == 1
    assert count_in(page, "upcoming") == 2
    assert count_in(page, "done") == 1
    overdue, today = section(page, "overdue"), section(page, "today")
    upcoming, finished = section(page, "upcoming"), section(page, "done")
    assert "Late one" in overdue and "Late two" in overdue and "overdue" in overdue
    assert overdue.index("Late one") < overdue.index("Late two")
    assert "Task for today" in today and "Late one" not in today
    assert "Soon task" in upcoming and "Far task" in upcoming
    assert upcoming.index("Soon task") < upcoming.index("Far task")
    assert "Finished task" in finished and "Finished task" not in today
    assert "Cancelled task" not in page
    assert "Task for Elena" not in page


def test_a_home_with_many_open_tasks_lists_those_due_soonest_and_counts_them_all(client, people, monkeypatch):
    """Her home holds OPEN_SHOWN open tasks, whatever their number (a request never loads them
    all), with the true counts and a word on the rest; a cut section never claims to be empty."""
    from app.homework import tasks as task_services

    monkeypatch.setattr(task_services, "OPEN_SHOWN", 3)
    therapist, maria = people["therapist"], people["client"]
    for due, title in ((-2, "Late A"), (-1, "Late B"), (0, "Today C"), (3, "Soon D"), (9, "Far E")):
        assign(therapist, maria, due=due, title=title)
    login(client, maria)
    page = client.get("/home").get_data(as_text=True)
    assert (count_in(page, "overdue"), count_in(page, "today"), count_in(page, "upcoming")) == (2, 1, 2)
    overdue, today, upcoming = section(page, "overdue"), section(page, "today"), section(page, "upcoming")
    assert "Late A" in overdue and "Late B" in overdue and "Today C" in today
    assert "Soon D" not in page and "Far E" not in page
    assert "2 more, shown here once you have sent the ones above." in upcoming
    assert "Nothing else planned yet" not in upcoming
    assert "Showing the" not in overdue and "Nothing overdue" not in overdue

    monkeypatch.setattr(task_services, "OPEN_SHOWN", 4)
    upcoming = section(client.get("/home").get_data(as_text=True), "upcoming")
    assert "Soon D" in upcoming and "Far E" not in upcoming
    assert "Showing the 1 due soonest of 2." in upcoming


def test_an_empty_home_says_so(client, people):
    login(client, people["client"])
    page = client.get("/home").get_data(as_text=True)
    for key in ("overdue", "today", "upcoming", "done"):
        assert count_in(page, key) == 0
    assert "Nothing overdue" in page and "Nothing due today" in page


def test_due_today_follows_the_clients_own_calendar(client, people, monkeypatch):
    """At 12:00 UTC it is already tomorrow in Kiritimati (UTC+14): a task due on the UTC date
    is overdue for her, and one due on her date is due today."""
    import app.core.clock

    noon_utc = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(app.core.clock, "utcnow", lambda: noon_utc)
    therapist = people["therapist"]
    far_east = make_client(therapist, "Kiri", timezone="Pacific/Kiritimati")
    utc_date = noon_utc.date()
    assert today_for(far_east) == utc_date + timedelta(days=1)
    assign(therapist, far_east, due=utc_date, title="Due on the UTC date")
    assign(therapist, far_east, due=utc_date + timedelta(days=1), title="Due on her date")
    login(client, far_east)
    page = client.get("/home").get_data(as_text=True)
    assert "Due on the UTC date" in section(page, "overdue")
    assert "Due on her date" in section(page, "today")


def test_a_client_is_not_shown_the_therapists_pages(client, people):
    login(client, people["client"])
    assert client.get(f"/clients/{people['client'].id}").status_code == 403
    assert client.get("/caseload").status_code == 403


def test_a_therapist_has_no_client_home(client, people):
    login(client, people["therapist"])
    assert client.get("/home").status_code == 403


def test_repeat_count_shows_on_each_task(client, people):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    client.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": built_in().id, "due_date": in_days(therapist, 0), "repeat": "daily",
        "times": "2"})
    client.post("/logout")
    login(client, maria)
    page = client.get("/home").get_data(as_text=True)
    assert "1 of 2" in page and "2 of 2" in page


def test_a_therapist_from_another_practice_is_a_stranger(client, people):
    stranger = make_therapist("Stranger")
    login(client, stranger)
    assert client.get(f"/clients/{people['client'].id}").status_code == 404


def test_the_due_date_is_checked_against_the_clients_calendar(client):
    """Pago Pago (UTC-11) and Kiritimati (UTC+14) are always at least a day apart: the
    therapist's 'today' is already the past for her client."""
    therapist = make_therapist("West", timezone="Pacific/Pago_Pago")
    far_east = make_client(therapist, "East", timezone="Pacific/Kiritimati")
    assert today_for(far_east) > today_for(therapist)
    login(client, therapist)
    form = client.get(f"/clients/{far_east.id}/assign").get_data(as_text=True)
    assert f'value="{today_for(far_east).isoformat()}"' in form
    response = client.post(f"/clients/{far_east.id}/assign", data={
        "exercise_id": built_in().id, "due_date": today_for(therapist).isoformat()})
    assert response.status_code == 200
    assert "Choose today or a later date." in response.get_data(as_text=True)
    assert task_count() == 0
    response = client.post(f"/clients/{far_east.id}/assign", data={
        "exercise_id": built_in().id, "due_date": today_for(far_east).isoformat()})
    assert response.status_code == 302
    [task] = tasks_of(far_east)
    client.post(f"/tasks/{task.id}/due-date", data={"due_date": today_for(therapist).isoformat()})
    refresh(task)
    assert task.due_date == today_for(far_east)
