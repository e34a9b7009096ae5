"""Soft delete: a therapist deletes a task or a reflection; it vanishes for everyone, she can
restore it exactly for 30 days, and `flask purge-deleted` removes it for good afterwards."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.homework import deletion
from app.homework.reflections import add_addendum
from app.homework.review import annotate, give_feedback
from app.models import (
    Addendum,
    Assignment,
    AuditEvent,
    Feedback,
    Notification,
    PrivateAnnotation,
    Reflection,
    ReminderSent,
    utcnow,
)
from app.notifications.services import send_reminders
from tests.conftest import login
from tests.world import build_world

ANSWER = "It went well."          # C's private reflection (world["reflection"])
SHARED = "Shared words."          # C's reflection shared with her partner
FEEDBACK = "FEEDBACK-SENTINEL-91c"
ANNOTATION = "ANNOTATION-SENTINEL-4de"
ADDENDUM = "ADDENDUM-SENTINEL-2ab"


@pytest.fixture
def world(app):
    w = build_world()
    give_feedback(w["therapist"], w["reflection"], FEEDBACK, mark_reviewed=False)
    annotate(w["therapist"], w["reflection"], ANNOTATION)
    add_addendum(w["client"], w["reflection"], ADDENDUM)
    return w


def browser(app, user):
    b = app.test_client()
    login(b, user)
    return b


def page(b, url) -> str:
    response = b.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def flashed(response) -> str:
    return response.get_data(as_text=True)


def _delete_task(app, w, key="submitted_task"):
    b = browser(app, w["therapist"])
    response = b.post(f"/tasks/{w[key].id}/delete", follow_redirects=True)
    assert response.status_code == 200
    return b, response


# --- deleting hides everywhere ---------------------------------------------------------------

def test_a_deleted_task_and_its_reflection_vanish_for_the_therapist_and_the_client(app, world):
    task, reflection, c = world["submitted_task"], world["reflection"], world["client"]
    therapist = browser(app, world["therapist"])
    assert f"/reflections/{reflection.id}" in page(therapist, "/review")
    therapist.post(f"/tasks/{task.id}/delete")

    for url in ("/review", "/caseload", f"/clients/{c.id}", f"/clients/{c.id}/prep",
                f"/clients/{c.id}/export", f"/clients/{c.id}/export.json", f"/pairs/{world['pair'].id}"):
        html = page(therapist, url)
        assert f"/tasks/{task.id}\"" not in html and f"/reflections/{reflection.id}\"" not in html, url
        for text in (ANSWER, FEEDBACK, ANNOTATION, ADDENDUM):
            assert text not in html, (url, text)
    for url in (f"/tasks/{task.id}", f"/reflections/{reflection.id}"):
        assert therapist.get(url).status_code == 404
    assert therapist.post(f"/reflections/{reflection.id}/feedback", data={"body": "x"}).status_code == 404

    client = browser(app, c)
    for url in ("/home", "/progress", "/export", "/export.json", "/shared", "/notifications"):
        html = page(client, url)
        assert f"/tasks/{task.id}\"" not in html, url
        for text in (ANSWER, FEEDBACK, ADDENDUM, ANNOTATION):
            assert text not in html, (url, text)
    for url in (f"/tasks/{task.id}", f"/reflections/{reflection.id}"):
        assert client.get(url).status_code == 404
    assert client.post(f"/reflections/{reflection.id}/addenda", data={"body": "more"}).status_code == 404


def test_the_charts_counts_and_queue_leave_deleted_reflections_out(app, world):
    from app.core.clock import today_for, zone_for
    from app.homework.review import review_counts
    from app.progress.dashboard import dashboard
    from app.progress.services import progress_for

    c, t = world["client"], world["therapist"]
    before = len(progress_for(c, today_for(c), zone_for(c)).points)
    waiting = review_counts(t)["waiting"]
    row = next(r for r in dashboard(t, today_for(t)).rows if r.client.id == c.id)
    deletion.delete_reflection(t, world["reflection"])
    assert len(progress_for(c, today_for(c), zone_for(c)).points) == before - 1
    assert review_counts(t)["waiting"] == waiting - 1
    after = next(r for r in dashboard(t, today_for(t)).rows if r.client.id == c.id)
    assert after.unreviewed == row.unreviewed - 1
    deletion.delete_task(t, world["open_task"])
    after = next(r for r in dashboard(t, today_for(t)).rows if r.client.id == c.id)
    assert after.open_tasks == row.open_tasks - 1


def test_a_deleted_shared_reflection_vanishes_for_the_partner(app, world):
    shared = world["shared_reflection"]
    partner = browser(app, world["partner"])
    assert SHARED in page(partner, "/shared")
    partner_task = db.session.scalar(sa.select(Assignment).where(
        Assignment.pair_exercise_id == shared.assignment.pair_exercise_id,
        Assignment.client_id == world["partner"].id))
    assert SHARED in page(partner, f"/tasks/{partner_task.id}")

    browser(app, world["therapist"]).post(f"/reflections/{shared.id}/delete")
    assert SHARED not in page(partner, "/shared")
    assert SHARED not in page(partner, f"/tasks/{partner_task.id}")
    assert partner.get(f"/reflections/{shared.id}").status_code == 404
    html = page(browser(app, world["therapist"]), f"/pairs/{world['pair'].id}")
    assert SHARED not in html and "Reflection removed." in html


def test_a_deleted_reflection_leaves_its_task_marked_removed(app, world):
    task, reflection = world["submitted_task"], world["reflection"]
    answers = list(reflection.answers)
    therapist = browser(app, world["therapist"])
    html = page(therapist, f"/reflections/{reflection.id}")
    assert "Delete this reflection" in html and "restore it from Recently deleted for 30 days" in html
    response = therapist.post(f"/reflections/{reflection.id}/delete", follow_redirects=True)
    assert "deleted" in flashed(response) and 'href="/deleted"' in flashed(response)

    client = browser(app, world["client"])
    html = page(client, f"/tasks/{task.id}")
    assert "removed by your therapist" in html and ANSWER not in html and FEEDBACK not in html
    assert 'name="action" value="submit"' not in html  # no new draft while the deleted one exists
    assert "reflection removed by your therapist" in page(client, "/home")
    client.post(f"/tasks/{task.id}", data={"answer_0": "new words", "action": "save"})
    db.session.expire_all()
    assert db.session.get(Reflection, reflection.id).answers == answers
    assert db.session.scalar(sa.select(sa.func.count(Reflection.id)).where(
        Reflection.assignment_id == task.id)) == 1

    html = page(therapist, f"/tasks/{task.id}")
    assert "Reflection removed by you" in html and ANSWER not in html
    assert "reflection removed" in page(therapist, f"/clients/{world['client'].id}")


def test_opening_a_notification_about_a_deleted_reflection_is_a_friendly_404(app, world):
    reflection = world["reflection"]
    note = db.session.scalar(sa.select(Notification).where(
        Notification.user_id == world["therapist"].id,
        Notification.link == f"/reflections/{reflection.id}"))
    therapist = browser(app, world["therapist"])
    therapist.post(f"/reflections/{reflection.id}/delete")
    response = therapist.post(f"/notifications/{note.id}/open", follow_redirects=True)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "We could not find that page" in html and "been removed" in html


def test_no_reminders_for_a_deleted_task(app, world):
    task = world["open_task"]
    deletion.delete_task(world["therapist"], task)
    send_reminders(now=utcnow())
    assert db.session.scalar(sa.select(sa.func.count(ReminderSent.id)).where(
        ReminderSent.assignment_id == task.id)) == 0


# --- restoring -------------------------------------------------------------------------------

def _snapshot(reflection_id: int) -> dict:
    db.session.expire_all()
    r = db.session.get(Reflection, reflection_id)
    return {"answers": r.answers, "ratings": (r.resentment, r.closeness, r.stayed_present),
            "status": r.status, "submitted_at": r.submitted_at, "reviewed_at": r.reviewed_at,
            "feedback": [f.body for f in r.feedback], "addenda": [a.body for a in r.addenda],
            "annotations": list(db.session.scalars(sa.select(PrivateAnnotation.body).where(
                PrivateAnnotation.reflection_id == r.id))),
            "task_status": r.assignment.status, "due": r.assignment.due_date}


def test_restoring_a_task_brings_everything_back_exactly(app, world):
    task, reflection = world["submitted_task"], world["reflection"]
    before = _snapshot(reflection.id)
    therapist, _ = _delete_task(app, world)
    html = page(therapist, "/deleted")
    assert task.title in html and world["client"].name in html and "and its reflection" in html
    response = therapist.post(f"/tasks/{task.id}/restore", follow_redirects=True)
    assert "restored" in flashed(response)
    assert _snapshot(reflection.id) == before
    html = page(therapist, f"/reflections/{reflection.id}")
    assert ANSWER in html and FEEDBACK in html and ANNOTATION in html and ADDENDUM in html
    html = page(browser(app, world["client"]), f"/tasks/{task.id}")
    assert ANSWER in html and FEEDBACK in html and ANNOTATION not in html
    assert "Nothing deleted" in page(therapist, "/deleted")


def test_a_reflection_deleted_on_its_own_stays_deleted_when_its_task_is_restored(app, world):
    task, reflection, t = world["submitted_task"], world["reflection"], world["therapist"]
    before = _snapshot(reflection.id)
    assert deletion.delete_reflection(t, reflection)
    assert deletion.delete_task(t, task)
    therapist = browser(app, t)
    # Restoring the reflection first is refused: its task is deleted too.
    response = therapist.post(f"/reflections/{reflection.id}/restore", follow_redirects=True)
    assert "restore the task" in flashed(response)
    therapist.post(f"/tasks/{task.id}/restore")
    db.session.expire_all()
    assert db.session.get(Reflection, reflection.id).deleted_at is not None
    assert therapist.get(f"/reflections/{reflection.id}").status_code == 404
    html = page(therapist, "/deleted")
    assert f"/reflections/{reflection.id}/restore" in html
    therapist.post(f"/reflections/{reflection.id}/restore")
    assert _snapshot(reflection.id) == before
    assert page(therapist, f"/reflections/{reflection.id}")


def test_recently_deleted_shows_restorable_until_in_her_time_zone(app, world):
    t = world["therapist"]
    t.timezone = "Pacific/Auckland"
    db.session.commit()
    deletion.delete_task(t, world["open_task"])
    db.session.expire_all()
    task = db.session.get(Assignment, world["open_task"].id)
    until = (task.deleted_at + timedelta(days=30)).astimezone(ZoneInfo("Pacific/Auckland"))
    html = page(browser(app, t), "/deleted")
    assert f"restorable until {until.strftime('%-d %b %Y, %H:%M')}" in html
    assert world["client"].name in html and task.title in html
    # Another therapist sees none of it.
    other = page(browser(app, world["other_therapist"]), "/deleted")
    assert "Nothing deleted in the last 30 days." in other and world["client"].name not in other
    assert 'href="/deleted"' in page(browser(app, t), "/caseload")


# --- after 30 days ---------------------------------------------------------------------------

def _age(days: int, *objects) -> None:
    """Move a deletion into the past (the task's and its reflection's marks stay equal)."""
    when = utcnow() - timedelta(days=days)
    for obj in objects:
        model = type(obj)
        db.session.execute(sa.update(model).where(model.id == obj.id, model.deleted_at.is_not(None))
                           .values(deleted_at=when))
    db.session.commit()


def test_after_30_days_restore_is_refused_and_purge_removes_the_rows(app, world):
    t, task, reflection = world["therapist"], world["submitted_task"], world["reflection"]
    shared = world["shared_reflection"]
    deletion.delete_task(t, task)
    deletion.delete_reflection(t, shared)
    deletion.delete_task(t, world["open_task"])  # recent: stays
    _age(31, task, reflection, shared)

    therapist = browser(app, t)
    html = page(therapist, "/deleted")
    assert html.count("no longer restorable") == 2
    response = therapist.post(f"/tasks/{task.id}/restore", follow_redirects=True)
    assert "can no longer be restored" in flashed(response)
    response = therapist.post(f"/reflections/{shared.id}/restore", follow_redirects=True)
    assert "can no longer be restored" in flashed(response)
    db.session.expire_all()
    assert db.session.get(Assignment, task.id).deleted_at is not None  # not purged yet, not restored

    task_id, reflection_id, shared_id, shared_task_id = task.id, reflection.id, shared.id, shared.assignment_id
    result = app.test_cli_runner().invoke(args=["purge-deleted"])
    assert result.exit_code == 0, result.output
    assert "1 deleted task(s), 1 deleted reflection(s)" in result.output
    db.session.expire_all()
    assert db.session.get(Assignment, task_id) is None
    assert db.session.get(Reflection, reflection_id) is None
    assert db.session.get(Reflection, shared_id) is None
    assert db.session.get(Assignment, shared_task_id) is not None  # its task stays
    assert db.session.get(Assignment, world["open_task"].id) is not None
    for model in (Feedback, Addendum, PrivateAnnotation):
        assert db.session.scalar(sa.select(sa.func.count(model.id)).where(
            model.reflection_id == reflection_id)) == 0
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action.in_(["task_purged", "reflection_purged"]))) == 2
    # Safe to run twice.
    assert deletion.purge_deleted() == {"tasks": 0, "reflections": 0}
    # The task whose reflection was purged still says so, and takes no new draft.
    html = page(browser(app, world["client"]), f"/tasks/{shared_task_id}")
    assert "removed by your therapist" in html


def test_day_29_is_still_restorable(app, world):
    t, task = world["therapist"], world["submitted_task"]
    deletion.delete_task(t, task)
    _age(29, task, world["reflection"])
    assert deletion.purge_deleted() == {"tasks": 0, "reflections": 0}
    browser(app, t).post(f"/tasks/{task.id}/restore")
    db.session.expire_all()
    assert db.session.get(Assignment, task.id).deleted_at is None
    assert db.session.get(Reflection, world["reflection"].id).deleted_at is None


# --- who may -------------------------------------------------------------------------------

@pytest.mark.parametrize("actor,status", [("client", 403), ("partner", 404), ("same_therapist_client", 404),
                                          ("other_client", 404), ("other_therapist", 404)])
def test_only_her_therapist_deletes(app, world, actor, status):
    b = browser(app, world[actor])
    assert b.post(f"/tasks/{world['submitted_task'].id}/delete").status_code == status
    assert b.post(f"/reflections/{world['reflection'].id}/delete").status_code == status
    db.session.expire_all()
    assert db.session.get(Assignment, world["submitted_task"].id).deleted_at is None
    assert db.session.get(Reflection, world["reflection"].id).deleted_at is None


def test_the_partner_who_reads_a_shared_reflection_may_not_delete_it(app, world):
    b = browser(app, world["partner"])
    assert b.post(f"/reflections/{world['shared_reflection'].id}/delete").status_code == 403


@pytest.mark.parametrize("actor", ["client", "partner", "same_therapist_client", "other_client",
                                   "other_therapist"])
def test_only_her_therapist_restores(app, world, actor):
    t = world["therapist"]
    deletion.delete_task(t, world["open_task"])
    deletion.delete_reflection(t, world["reflection"])
    b = browser(app, world[actor])
    assert b.post(f"/tasks/{world['open_task'].id}/restore").status_code == 404
    assert b.post(f"/reflections/{world['reflection'].id}/restore").status_code == 404
    if actor.endswith("client") or actor == "partner":
        assert b.get("/deleted").status_code == 403
    db.session.expire_all()
    assert db.session.get(Assignment, world["open_task"].id).deleted_at is not None
    assert db.session.get(Reflection, world["reflection"].id).deleted_at is not None


def test_a_draft_cannot_be_deleted_by_the_therapist(app, world):
    b = browser(app, world["therapist"])
    assert b.post(f"/reflections/{world['draft'].id}/delete").status_code == 404


# --- twice, and the audit trail ----------------------------------------------------------------

def test_deleting_or_restoring_twice_is_harmless_and_says_so(app, world):
    b = browser(app, world["therapist"])
    task, reflection = world["open_task"], world["reflection"]
    b.post(f"/tasks/{task.id}/delete")
    db.session.expire_all()
    first = db.session.get(Assignment, task.id).deleted_at
    response = b.post(f"/tasks/{task.id}/delete", follow_redirects=True)
    assert "already deleted; nothing changed" in flashed(response)
    db.session.expire_all()
    assert db.session.get(Assignment, task.id).deleted_at == first
    b.post(f"/tasks/{task.id}/restore")
    response = b.post(f"/tasks/{task.id}/restore", follow_redirects=True)
    assert "is not deleted" in flashed(response)

    b.post(f"/reflections/{reflection.id}/delete")
    response = b.post(f"/reflections/{reflection.id}/delete", follow_redirects=True)
    assert "already deleted; nothing changed" in flashed(response)
    b.post(f"/reflections/{reflection.id}/restore")
    response = b.post(f"/reflections/{reflection.id}/restore", follow_redirects=True)
    assert "is not deleted" in flashed(response)
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.in_(["task_deleted", "task_restored", "reflection_deleted",
                               "reflection_restored"])).order_by(AuditEvent.id)))
    assert actions == ["task_deleted", "task_restored", "reflection_deleted", "reflection_restored"]


def test_delete_and_restore_are_audited(app, world):
    t, c = world["therapist"], world["client"]
    b = browser(app, t)
    b.post(f"/tasks/{world['submitted_task'].id}/delete")
    b.post(f"/tasks/{world['submitted_task'].id}/restore")
    b.post(f"/reflections/{world['reflection'].id}/delete")
    b.post(f"/reflections/{world['reflection'].id}/restore")
    rows = {(r.actor_id, r.action, r.subject_id, r.object_type, r.object_id)
            for r in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("%_deleted")
                                                                    | AuditEvent.action.like("%_restored")))}
    task_id, reflection_id = world["submitted_task"].id, world["reflection"].id
    assert rows == {(t.id, "task_deleted", c.id, "Assignment", task_id),
                    (t.id, "task_restored", c.id, "Assignment", task_id),
                    (t.id, "reflection_deleted", c.id, "Reflection", reflection_id),
                    (t.id, "reflection_restored", c.id, "Reflection", reflection_id)}
    # She is told in plain words on her activity page.
    html = page(browser(app, c), "/account/activity")
    assert "removed one of your reflections" in html and "deleted a task" in html


def test_the_confirm_step_works_without_javascript(app, world):
    """The delete button sits inside a <details> disclosure that says it can be restored for
    30 days: a keyboard opens it, and no script is needed to confirm."""
    html = page(browser(app, world["therapist"]), f"/tasks/{world['open_task'].id}")
    start = html.index('<details class="card confirm-delete">')
    block = html[start:html.index("</details>", start)]
    assert "<summary>Delete this task…</summary>" in block
    assert "for 30 days" in block and f'action="/tasks/{world["open_task"].id}/delete"' in block
    assert "data-confirm" not in block
