"""Two requests about the same session at the same moment (SQLite and PostgreSQL): each decides
on the row as the other one left it. A session is cancelled once and its people told once; a
move that waited behind a cancel moves nothing; a note's draft written from two tabs, or while
the note is saved, keeps the last words and never answers 500; an agenda item ticked from two
pages is ticked once.

Deterministic, not timing luck: on PostgreSQL another connection holds the row the requests
write, each request is started once the one before it waits for a lock (so every one has read
before any writes), and they go in that order when the row is let go. SQLite serializes writing
requests itself (app/core/database.py): there they simply run one after the other."""
from __future__ import annotations

import threading
import time as clock
from contextlib import contextmanager
from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.models import AgendaItem, AuditEvent, NoteDraft, Notification, OutboxItem, TherapySession
from app.therapy_sessions import schedule
from app.therapy_sessions import services as session_services
from tests.builders_sessions import record, shared_note, shared_of, text_of
from tests.conftest import login, make_client, make_therapist

CANNOT = "can no longer be moved or cancelled"


@pytest.fixture
def practice(app):
    """Ruth, and Maria (who asked for an email at each notice), with a session in four days."""
    ruth = make_therapist("Ruth Alder")
    maria = make_client(ruth, "Maria Lopez", email_notifications=True)
    ahead = schedule.schedule_session(ruth, maria, today_for(ruth) + timedelta(days=4), time(9, 0), 50, "Room 2")
    return dict(ruth=ruth, maria=maria, ahead=ahead)


def signed_in(app, user, devices=2):
    browsers = [app.test_client() for _ in range(devices)]
    for browser in browsers:
        login(browser, user)
    return browsers


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _waiting_for_locks() -> int:
    """Connections to this database waiting for a lock (a fresh connection: a fresh snapshot)."""
    with db.engine.connect() as connection:
        return connection.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"))


def _until_waiting(count: int) -> None:
    deadline = clock.monotonic() + 15
    while _waiting_for_locks() < count:
        assert clock.monotonic() < deadline, f"{count} request(s) should be waiting for a lock"
        clock.sleep(0.02)


@contextmanager
def _held(model, row_id):
    """On PostgreSQL, another connection holds the row (SELECT ... FOR UPDATE) until the end."""
    if not _postgres():
        yield
        return
    with db.engine.connect() as connection:
        connection.execute(sa.select(model.id).where(model.id == row_id).with_for_update())
        try:
            yield
        finally:
            connection.rollback()


def in_turn(row, *requests):
    """Run each request (a function of no arguments returning a response) in its own thread,
    behind `row` (a model and an id) held on PostgreSQL; the answers, in the same order (an
    exception that escaped a request counts as a 500)."""
    db.session.commit()  # the test's own reads hold nothing while the requests run
    answers: list = [None] * len(requests)

    def run(i):
        try:
            answers[i] = requests[i]()
        except Exception as exc:  # noqa: BLE001 - a 500, reported by the assertions
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    with _held(*row):
        for i, thread in enumerate(threads):
            thread.start()
            if _postgres():
                _until_waiting(i + 1)
            else:
                thread.join(30)
    for thread in threads:
        thread.join(30)
    db.session.expire_all()
    return answers


def status_of(answer) -> int:
    return 500 if isinstance(answer, Exception) else answer.status_code


def notices(user, kind: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.kind == kind))


def emails_to(user) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxItem).where(
        OutboxItem.recipient == user.email))


def audited(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


# --- scheduled sessions: cancel and move ------------------------------------------------------

def test_two_cancels_at_once_cancel_it_once_and_tell_her_once(practice, app):
    sid, maria = practice["ahead"].id, practice["maria"]
    emails_before = emails_to(maria)
    first, second = signed_in(app, practice["ruth"])
    url = f"/sessions/{sid}/cancel"
    answers = in_turn((TherapySession, sid), lambda: first.post(url), lambda: second.post(url))
    assert [status_of(a) for a in answers] == [302, 302], answers
    assert db.session.get(TherapySession, sid).cancelled_at is not None
    assert notices(maria, "session_cancelled") == 1, "one cancel, one notice"
    assert emails_to(maria) == emails_before + 1, "one cancel, one email"
    assert audited("session_cancelled") == 1
    assert CANNOT in text_of(second.get(f"/sessions/{sid}"))  # the second is told why


def test_a_move_that_waited_behind_a_cancel_moves_nothing(practice, app):
    sid, maria, starts_at = practice["ahead"].id, practice["maria"], practice["ahead"].starts_at
    canceller, mover = signed_in(app, practice["ruth"])
    later = today_for(practice["ruth"]) + timedelta(days=5)
    moved = {"day": later.isoformat(), "time": "15:00", "duration_minutes": "50", "location": "Room 3"}
    answers = in_turn((TherapySession, sid), lambda: canceller.post(f"/sessions/{sid}/cancel"),
                      lambda: mover.post(f"/sessions/{sid}/edit", data=moved))
    assert [status_of(a) for a in answers] == [302, 302], answers
    after = db.session.get(TherapySession, sid)
    assert after.cancelled_at is not None
    assert (after.starts_at, after.location) == (starts_at, "Room 2"), "a cancelled session was moved"
    assert (notices(maria, "session_cancelled"), notices(maria, "session_moved")) == (1, 0)
    assert audited("session_rescheduled") == 0
    assert CANNOT in text_of(mover.get(f"/sessions/{sid}"))


# --- drafts of a note: two tabs, and a draft beside the note's Save ------------------------------

def autosave(browser, session_id, body, base, seen):
    return browser.post(f"/sessions/{session_id}/note-draft", json={
        "kind": "shared", "body": body, "base_version": str(base), "draft_version": seen})


def the_draft() -> NoteDraft | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(NoteDraft))


@pytest.fixture
def drafting(people, app):
    """A held session with Ruth's shared note at version 1 and her draft of it, in two tabs."""
    ruth = people["therapist"]
    session = record(ruth, people["client"])
    shared_note(ruth, session, "SAVED-AT-ONE")
    tabs = signed_in(app, ruth)
    answer = autosave(tabs[0], session.id, "DRAFT-WORDS", 1, "")
    assert answer.status_code == 200
    return dict(people, session=session, sid=session.id, tabs=tabs, seen=answer.get_json()["version"])


def test_two_tabs_autosaving_at_once_never_overwrite_each_other(drafting):
    sid, (first, second), seen = drafting["sid"], drafting["tabs"], drafting["seen"]
    answers = in_turn((NoteDraft, the_draft().id),
                      lambda: autosave(first, sid, "WORDS-OF-TAB-ONE", 1, seen),
                      lambda: autosave(second, sid, "WORDS-OF-TAB-TWO", 1, seen))
    assert [status_of(a) for a in answers] == [200, 409], answers  # the second was told, not overwritten
    assert answers[1].get_json()["conflict"] == "draft"
    draft = the_draft()
    assert (draft.body, draft.updated_at.isoformat()) == ("WORDS-OF-TAB-ONE", answers[0].get_json()["version"])


def _save_note(tab, session_id, body, version, seen):
    return tab.post(f"/sessions/{session_id}/shared-note",
                    data={"body": body, "version": str(version), "draft_version": seen})


def test_a_draft_autosaved_while_the_note_is_saved_keeps_its_words(drafting):
    sid, (saver, writer), seen = drafting["sid"], drafting["tabs"], drafting["seen"]
    answers = in_turn((NoteDraft, the_draft().id),
                      lambda: autosave(writer, sid, "NEWER-WORDS-IN-TAB-TWO", 1, seen),
                      lambda: _save_note(saver, sid, "SAVED-FROM-TAB-ONE", 1, seen))
    assert [status_of(a) for a in answers] == [200, 302], answers
    assert answers[0].get_json()["draft"] is True
    assert (shared_of(sid).body, shared_of(sid).version) == ("SAVED-FROM-TAB-ONE", 2)
    draft = the_draft()
    assert draft is not None and draft.body == "NEWER-WORDS-IN-TAB-TWO", "a kept draft was thrown away"


def test_an_autosave_that_waited_behind_the_save_is_refused_never_a_500(drafting):
    sid, (saver, writer), seen = drafting["sid"], drafting["tabs"], drafting["seen"]
    answers = in_turn((NoteDraft, the_draft().id),
                      lambda: _save_note(saver, sid, "SAVED-FROM-TAB-ONE", 1, seen),
                      lambda: autosave(writer, sid, "LATE-WORDS-IN-TAB-TWO", 1, seen))
    assert [status_of(a) for a in answers] == [302, 409], answers
    assert answers[1].get_json()["conflict"] == "note"  # "saved again since you began": her text stays
    assert shared_of(sid).body == "SAVED-FROM-TAB-ONE" and the_draft() is None


def test_her_text_kept_on_a_conflict_while_another_tab_empties_the_draft(drafting):
    sid, (merger, emptier), seen = drafting["sid"], drafting["tabs"], drafting["seen"]
    session_services.save_shared_note(drafting["therapist"], drafting["session"], "SAVED-ELSEWHERE-AT-TWO", 1)
    answers = in_turn((NoteDraft, the_draft().id),
                      lambda: autosave(emptier, sid, "", 1, seen),
                      lambda: _save_note(merger, sid, "HER-TEXT-FROM-VERSION-ONE", 1, seen))
    assert [status_of(a) for a in answers] == [200, 409], answers
    assert "SAVED-ELSEWHERE-AT-TWO" in text_of(answers[1])  # the conflict page, both texts
    draft = the_draft()
    assert draft is not None and (draft.body, draft.base_version) == ("HER-TEXT-FROM-VERSION-ONE", 1)


# --- the agenda ------------------------------------------------------------------------------

def test_an_agenda_item_ticked_from_two_pages_at_once_is_ticked_once(people, app):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    item = session_services.add_agenda_item(maria, "AGENDA-TWICE")
    first, second = signed_in(app, ruth)
    data = {"body": "", "version": "0", "clinical-body": "", "clinical-version": "0", "agenda_done": str(item.id)}
    sid, item_id, url = session.id, item.id, f"/sessions/{session.id}/notes"
    answers = in_turn((AgendaItem, item_id), lambda: first.post(url, data=data), lambda: second.post(url, data=data))
    assert [status_of(a) for a in answers] == [302, 302], answers
    assert db.session.get(AgendaItem, item_id).done_at is not None
    assert audited("agenda_item_ticked") == 1
    assert "Nothing had changed" in text_of(second.get(f"/sessions/{sid}"))
