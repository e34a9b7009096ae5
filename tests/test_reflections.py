"""Reflections: drafts that are never lost, idempotent submission, addenda and the urgent flag."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Addendum, AuditEvent, Reflection
from tests.builders_homework import (
    assign,
    built_in,
    checked_value,
    refresh,
    save_draft,
    submit,
    textarea,
)
from tests.conftest import login

MULTILINE = "First line\nsecond line\n\n  indented paragraph 🌱💛 — “quoted” & done\n"
HTML_LIKE = '<script>alert("x")</script> <b>bold</b> &amp; </textarea><img src=x onerror=alert(1)>'


@pytest.fixture
def task(people):
    """An open task (built-in 'Catch a good moment': three prompts) for Maria, due today."""
    return assign(people["therapist"], people["client"], built_in("stay_present"), due=0)


def reflections_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Reflection))


def stored(task) -> Reflection | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))


def draft_form(answers, resentment="", closeness="", stayed_present="", **extra):
    data = {f"answer_{i}": a for i, a in enumerate(answers)}
    data.update(resentment=resentment, closeness=closeness, stayed_present=stayed_present, **extra)
    return data


# --- the draft round trip ------------------------------------------------------------------

def test_an_autosaved_draft_comes_back_exactly(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}/draft", data=draft_form(
        [MULTILINE, HTML_LIKE, ""], resentment="4", closeness="0", stayed_present="partly"))
    assert response.status_code == 200
    assert response.json["saved"] is True
    assert response.json["saved_at"] and response.json["saved_at_display"]

    reflection = stored(task)
    assert reflection.status == "draft"
    assert reflection.answers == [MULTILINE, HTML_LIKE, ""]
    assert (reflection.resentment, reflection.closeness, reflection.stayed_present) == (4, 0, "partly")

    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert textarea(page, "answer_0") == MULTILINE
    assert textarea(page, "answer_1") == HTML_LIKE
    assert textarea(page, "answer_2") == ""
    assert checked_value(page, "resentment") == "4"
    assert checked_value(page, "closeness") == "0"
    assert checked_value(page, "stayed_present") == "partly"
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert "Draft saved" in page


def test_windows_line_endings_are_stored_as_newlines(client, people, task):
    login(client, people["client"])
    client.post(f"/tasks/{task.id}/draft", data=draft_form(["one\r\ntwo\rthree"]))
    assert stored(task).answers[0] == "one\ntwo\nthree"


def test_a_later_autosave_replaces_the_earlier_draft_in_the_same_row(client, people, task):
    login(client, people["client"])
    client.post(f"/tasks/{task.id}/draft", data=draft_form(["first version"], resentment="2"))
    first = stored(task)
    client.post(f"/tasks/{task.id}/draft", data=draft_form(["second version", "more"]))
    second = stored(task)
    assert second.id == first.id and reflections_count() == 1
    assert second.answers == ["second version", "more", ""]
    assert second.resentment is None


def test_the_save_draft_button_works_without_javascript(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(
        ["Written without script", "Second answer"], resentment="6", action="save"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tasks/{task.id}")
    reflection = stored(task)
    assert reflection.status == "draft"
    assert reflection.answers == ["Written without script", "Second answer", ""]
    assert reflection.resentment == 6
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Draft saved. You can come back to it from any device." in page
    assert textarea(page, "answer_0") == "Written without script"
    refresh(task)
    assert task.status == "open"


@pytest.mark.parametrize("field,value", [("resentment", "11"), ("resentment", "abc"),
                                         ("closeness", "-1"), ("closeness", "4.5"),
                                         ("resentment", "²"), ("closeness", "１０"),
                                         ("stayed_present", "maybe")])
def test_a_bad_rating_is_refused_and_the_saved_draft_is_unchanged(client, people, task, field, value):
    save_draft(people["client"], task, ["Kept safe"], {"resentment": 3})
    login(client, people["client"])
    data = draft_form(["Overwritten?"], **{field: value})
    response = client.post(f"/tasks/{task.id}/draft", data=data)
    assert response.status_code == 400
    assert response.json["saved"] is False
    assert field in response.json["errors"]

    response = client.post(f"/tasks/{task.id}", data={**data, "action": "save"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert ("Choose a number from 0 to 10." in page) or ("Choose yes, partly or no." in page)
    # What she typed stays on the page even though it was not saved.
    assert textarea(page, "answer_0") == "Overwritten?"

    reflection = stored(task)
    assert reflection.answers == ["Kept safe", "", ""]
    assert reflection.resentment == 3


def test_an_answer_over_the_limit_is_a_clear_error_and_the_draft_is_kept(client, people, task):
    save_draft(people["client"], task, ["The earlier draft"])
    login(client, people["client"])
    too_long = "x" * 20_001
    response = client.post(f"/tasks/{task.id}/draft", data=draft_form([too_long]))
    assert response.status_code == 400
    assert response.json["saved"] is False
    assert "longer than 20,000 characters" in response.json["message"]

    response = client.post(f"/tasks/{task.id}", data=draft_form([too_long], action="save"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "longer than 20,000 characters" in page
    assert textarea(page, "answer_0") == too_long
    assert stored(task).answers == ["The earlier draft", "", ""]

    # Exactly at the limit is fine, emoji counted as one character each.
    at_limit = "🌱" * 20_000
    response = client.post(f"/tasks/{task.id}/draft", data=draft_form([at_limit]))
    assert response.status_code == 200
    assert stored(task).answers[0] == at_limit


@pytest.mark.parametrize("route", ["draft", "form"])
def test_control_characters_and_nul_are_stripped_not_a_crash(client, people, task, route):
    login(client, people["client"])
    data = draft_form(["a\x00b\x07c\x1b[0m\td\x7f", "line\x0bbreak\x0c"], resentment="5")
    if route == "draft":
        response = client.post(f"/tasks/{task.id}/draft", data=data)
        assert response.status_code == 200
    else:
        response = client.post(f"/tasks/{task.id}", data={**data, "action": "submit",
                                                          "closeness": "5", "stayed_present": "no"})
        assert response.status_code == 302
    reflection = stored(task)
    assert reflection.answers[:2] == ["abc[0m\td", "linebreak"]
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "\x00" not in page


def test_nul_in_a_rating_is_a_form_error_not_a_crash(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}/draft",
                           data=draft_form(["ok"], resentment="4\x00", stayed_present="yes\x00"))
    assert response.status_code == 400
    assert stored(task) is None


def test_answers_beyond_the_tasks_prompts_are_ignored(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}/draft", data=draft_form(["a", "b", "c", "extra", "more"]))
    assert response.status_code == 200
    assert stored(task).answers == ["a", "b", "c"]


# --- submitting ------------------------------------------------------------------------------

def test_submit_without_ratings_is_refused_but_the_text_is_saved(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(
        ["Everything I wrote tonight"], action="submit"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Please choose how strong the resentment felt before sending." in page
    assert "Your draft is saved, but it could not be sent yet." in page
    reflection = stored(task)
    assert reflection.status == "draft" and reflection.submitted_at is None
    assert reflection.answers[0] == "Everything I wrote tonight"
    refresh(task)
    assert task.status == "open"


def test_submit_without_any_answer_is_refused(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(
        ["   ", ""], resentment="1", closeness="1", stayed_present="yes", action="submit"))
    assert response.status_code == 400
    assert "Write at least one answer before sending." in response.get_data(as_text=True)
    assert stored(task).status == "draft"


def test_submit_sends_once_even_on_a_double_click(client, people, task):
    login(client, people["client"])
    data = draft_form(["What I mean to send"], resentment="7", closeness="2",
                      stayed_present="no", action="submit")
    first = client.post(f"/tasks/{task.id}", data=data)
    second = client.post(f"/tasks/{task.id}", data={**data, "answer_0": "A changed mind"})
    assert first.status_code == second.status_code == 302
    assert reflections_count() == 1
    reflection = stored(task)
    assert reflection.status == "submitted" and reflection.submitted_at is not None
    assert reflection.answers[0] == "What I mean to send"
    refresh(task)
    assert task.status == "submitted"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "reflection_submitted")) == 1
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "This reflection was already sent; nothing was sent twice." in page
    assert "What I mean to send" in page and "A changed mind" not in page
    # The form is gone once sent; the reflection is shown instead.
    assert 'name="answer_0"' not in page
    assert "7 / 10" in page and "2 / 10" in page


def test_submit_with_urgent_ticked_flags_it(client, people, task):
    login(client, people["client"])
    client.post(f"/tasks/{task.id}", data=draft_form(
        ["Please read soon"], resentment="9", closeness="1", stayed_present="no", urgent="y",
        action="submit"))
    reflection = stored(task)
    assert reflection.status == "submitted" and reflection.urgent is True


def test_two_simultaneous_submits_make_one_reflection(app, people):
    maria = people["client"]
    tasks = [assign(people["therapist"], maria, due=0) for _ in range(3)]
    # One task with a draft already saved, two without: both paths race differently.
    save_draft(maria, tasks[0], ["Started earlier"])
    task_ids = [t.id for t in tasks]
    db.session.commit()
    browsers = [app.test_client(), app.test_client()]
    for browser in browsers:
        login(browser, maria)
    data = draft_form(["Sent from two tabs"], resentment="3", closeness="4",
                      stayed_present="yes", action="submit")

    for task_id in task_ids:
        barrier = threading.Barrier(len(browsers))
        statuses, errors = [], []

        def send(browser):
            try:
                barrier.wait(timeout=10)
                statuses.append(browser.post(f"/tasks/{task_id}", data=data).status_code)
            except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert statuses == [302, 302]

    db.session.expire_all()
    for task_id in task_ids:
        rows = list(db.session.scalars(sa.select(Reflection).where(Reflection.assignment_id == task_id)))
        assert len(rows) == 1
        assert rows[0].status == "submitted" and rows[0].answers[0] == "Sent from two tabs"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "reflection_submitted")) == len(task_ids)


# --- closed tasks refuse drafts ----------------------------------------------------------------

def test_a_draft_for_a_cancelled_task_is_refused_and_nothing_is_lost(client, people, task):
    maria = people["client"]
    save_draft(maria, task, ["Written before the cancel"], {"closeness": 8})
    task.status = "cancelled"
    db.session.commit()
    login(client, maria)
    response = client.post(f"/tasks/{task.id}/draft", data=draft_form(["Overwrite attempt"]))
    assert response.status_code == 409
    assert response.json["saved"] is False
    assert "cancelled" in response.json["message"]

    response = client.post(f"/tasks/{task.id}", data=draft_form(["Overwrite attempt"], action="save"),
                           follow_redirects=True)
    assert "Your therapist has cancelled this task" in response.get_data(as_text=True)
    response = client.post(f"/tasks/{task.id}", data=draft_form(
        ["Overwrite attempt"], resentment="1", closeness="1", stayed_present="yes", action="submit"))
    reflection = stored(task)
    assert reflection.answers == ["Written before the cancel", "", ""]
    assert reflection.closeness == 8 and reflection.status == "draft"
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "What you had written is kept" in page
    assert 'name="answer_0"' not in page


def test_a_draft_for_a_submitted_task_is_refused_and_the_reflection_is_unchanged(client, people, task):
    maria = people["client"]
    submit(maria, task, ["As sent"])
    login(client, maria)
    response = client.post(f"/tasks/{task.id}/draft", data=draft_form(["Rewrite history"]))
    assert response.status_code == 409
    assert "already sent" in response.json["message"]
    response = client.post(f"/tasks/{task.id}", data=draft_form(["Rewrite history"], action="save"),
                           follow_redirects=True)
    assert "You have already sent this reflection" in response.get_data(as_text=True)
    reflection = stored(task)
    assert reflection.answers[0] == "As sent" and reflection.status == "submitted"


def test_the_therapist_cannot_write_in_her_clients_reflection(client, people, task):
    login(client, people["therapist"])
    assert client.post(f"/tasks/{task.id}/draft", data=draft_form(["not hers"])).status_code == 403
    assert client.post(f"/tasks/{task.id}", data=draft_form(["not hers"], action="save")).status_code == 403
    assert stored(task) is None


# --- after sending: addenda and urgent ---------------------------------------------------------

def test_an_addendum_is_added_and_the_original_stays(client, people, task):
    maria = people["client"]
    reflection = submit(maria, task, ["The original words"])
    reflection.reviewed_at = reflection.submitted_at
    db.session.commit()
    login(client, maria)
    response = client.post(f"/reflections/{reflection.id}/addenda",
                           data={"body": "One more thing\x00 <i>later</i>"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tasks/{task.id}")
    [addendum] = db.session.scalars(sa.select(Addendum))
    assert addendum.reflection_id == reflection.id
    assert addendum.body == "One more thing <i>later</i>"
    refresh(reflection)
    assert reflection.answers[0] == "The original words"
    assert reflection.reviewed_at is None  # back in the therapist's queue
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "The original words" in page
    assert "One more thing &lt;i&gt;later&lt;/i&gt;" in page


def test_an_empty_addendum_adds_nothing(client, people, task):
    reflection = submit(people["client"], task)
    login(client, people["client"])
    client.post(f"/reflections/{reflection.id}/addenda", data={"body": "   "})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Addendum)) == 0


def test_an_addendum_over_the_limit_is_refused(client, people, task):
    reflection = submit(people["client"], task)
    login(client, people["client"])
    response = client.post(f"/reflections/{reflection.id}/addenda", data={"body": "y" * 20_001})
    assert response.status_code == 400
    assert "Please keep it under 20,000 characters." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Addendum)) == 0


def test_a_draft_takes_no_addendum_or_urgent_flag(client, people, task):
    draft = save_draft(people["client"], task, ["Not sent yet"])
    login(client, people["client"])
    assert client.post(f"/reflections/{draft.id}/addenda", data={"body": "x"}).status_code == 403
    assert client.post(f"/reflections/{draft.id}/urgent").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Addendum)) == 0
    assert stored(task).urgent is False


def test_she_marks_a_sent_reflection_urgent(client, people, task):
    maria = people["client"]
    reflection = submit(maria, task)
    reflection.reviewed_at = reflection.submitted_at
    db.session.commit()
    login(client, maria)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f"/reflections/{reflection.id}/urgent" in page
    response = client.post(f"/reflections/{reflection.id}/urgent", follow_redirects=True)
    assert "Marked urgent." in response.get_data(as_text=True)
    refresh(reflection)
    assert reflection.urgent is True and reflection.reviewed_at is None
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f"/reflections/{reflection.id}/urgent" not in page
    assert "urgent" in page


def test_every_task_page_shows_crisis_help(client, people, task):
    login(client, people["client"])
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Need help now?" in page and "emergency" in page


def test_a_draft_row_created_meanwhile_by_another_tab_is_reused(app, people, task):
    """The first autosave of two tabs at once: the loser of the insert uses the winner's row."""
    maria = people["client"]
    assert task.reflection is None  # this session has already seen "no draft yet"
    with db.engine.begin() as conn:
        conn.execute(sa.insert(Reflection).values(
            assignment_id=task.id, author_id=maria.id, answers=["from the other tab"],
            status="draft", urgent=False))
    reflection = save_draft(maria, task, ["from this tab"])
    assert reflection.answers[0] == "from this tab"
    assert reflections_count() == 1
    assert stored(task).answers == ["from this tab", "", ""]
