"""Sessions through HTTP: recording, shared and clinical notes with their history, optimistic
locking (stale versions and two concurrent saves), client comments and the agenda, pair member
notes, the client's Sessions page and session prep."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AgendaItem,
    ClinicalNote,
    ClinicalNoteRevision,
    SessionComment,
    SessionNote,
    TherapySession,
)
from tests.builders_homework import assign, days_ago, submit, textarea
from tests.builders_sessions import (
    audit_actions,
    clinical_note,
    clinical_of,
    hidden_value,
    linked_pair,
    member_note,
    record,
    revisions_of,
    shared_note,
    shared_of,
    text_of,
)
from tests.conftest import login, make_client


@pytest.fixture
def practice(people):
    """Ruth with Maria and Elena (linked as a pair); Sam with Priya (and a pair of his own)."""
    ruth, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    sam, priya = people["other_therapist"], people["other_client"]
    pair = linked_pair(ruth, maria, elena)
    sams_pair = linked_pair(sam, priya, make_client(sam, "Nadia"))
    return dict(people, pair=pair, sams_pair=sams_pair, ruth=ruth, maria=maria, elena=elena,
                sam=sam, priya=priya)


def sessions_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(TherapySession))


# --- recording ---------------------------------------------------------------------------------

def test_recording_with_a_client_stores_her_local_time_as_utc(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    ruth.timezone = "America/New_York"
    db.session.commit()
    login(client, ruth)

    page = client.get(f"/clients/{maria.id}/sessions/new")
    assert page.status_code == 200 and "America/New_York" in text_of(page)
    summer = client.post(f"/clients/{maria.id}/sessions/new",
                         data={"day": "2024-07-01", "time": "14:30", "duration_minutes": "50"})
    winter = client.post(f"/clients/{maria.id}/sessions/new",
                         data={"day": "2024-01-15", "time": "09:00", "duration_minutes": ""})
    assert summer.status_code == winter.status_code == 302

    db.session.expire_all()
    rows = db.session.scalars(sa.select(TherapySession).order_by(TherapySession.id)).all()
    assert [(r.client_id, r.pair_id, r.therapist_id) for r in rows] == [(maria.id, None, ruth.id)] * 2
    assert rows[0].starts_at == datetime(2024, 7, 1, 18, 30, tzinfo=timezone.utc)  # EDT, UTC-4
    assert rows[0].duration_minutes == 50
    assert rows[1].starts_at == datetime(2024, 1, 15, 14, 0, tzinfo=timezone.utc)  # EST, UTC-5
    assert rows[1].duration_minutes is None
    assert summer.headers["Location"].endswith(f"/sessions/{rows[0].id}")
    # Shown back on her own clock.
    shown = text_of(client.get(f"/sessions/{rows[0].id}"))
    assert "1 Jul 2024, 14:30" in shown and "50 minutes" in shown


def test_recording_with_a_pair(practice, client):
    ruth, pair = practice["ruth"], practice["pair"]
    login(client, ruth)
    assert client.get(f"/pairs/{pair.id}/sessions/new").status_code == 200
    response = client.post(f"/pairs/{pair.id}/sessions/new",
                           data={"day": "2024-03-05", "time": "18:00", "duration_minutes": "90"})
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.scalar(sa.select(TherapySession))
    assert (row.pair_id, row.client_id, row.duration_minutes) == (pair.id, None, 90)
    # Europe/London by default: GMT in March before the clock change.
    assert row.starts_at == datetime(2024, 3, 5, 18, 0, tzinfo=timezone.utc)
    page = text_of(client.get(f"/sessions/{row.id}"))
    assert practice["maria"].name in page and practice["elena"].name in page


def test_recording_for_another_therapists_client_or_pair_is_404(practice, client):
    login(client, practice["ruth"])
    form = {"day": "2024-03-05", "time": "18:00"}
    for url in (f"/clients/{practice['priya'].id}/sessions/new",
                f"/pairs/{practice['sams_pair'].id}/sessions/new",
                "/clients/999999/sessions/new", "/pairs/999999/sessions/new"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, data=form).status_code == 404, url
    assert sessions_count() == 0


def test_a_client_cannot_record_a_session(practice, client):
    maria = practice["maria"]
    login(client, maria)
    form = {"day": "2024-03-05", "time": "18:00"}
    assert client.post(f"/clients/{maria.id}/sessions/new", data=form).status_code == 403
    assert client.post(f"/pairs/{practice['pair'].id}/sessions/new", data=form).status_code == 403
    assert sessions_count() == 0


@pytest.mark.parametrize("duration", ["4", "481", "-10", "many"])
def test_a_duration_out_of_range_is_a_form_error(practice, client, duration):
    login(client, practice["ruth"])
    response = client.post(f"/clients/{practice['maria'].id}/sessions/new",
                           data={"day": "2024-03-05", "time": "18:00", "duration_minutes": duration})
    assert response.status_code in (200, 400)
    page = text_of(response)
    assert 'aria-invalid="true"' in page
    if duration != "many":
        assert "Between 5 and 480 minutes." in page
    assert sessions_count() == 0


@pytest.mark.parametrize("form, message", [
    ({"time": "18:00"}, "Choose the date of the session."),
    ({"day": "2024-03-05"}, "Choose the time it started."),
    ({"day": "2024-13-45", "time": "18:00"}, None),
    ({"day": "2024-03-05", "time": "25:99"}, None),
])
def test_missing_or_impossible_date_and_time_are_form_errors(practice, client, form, message):
    login(client, practice["ruth"])
    response = client.post(f"/clients/{practice['maria'].id}/sessions/new", data=form)
    assert response.status_code in (200, 400)
    assert 'aria-invalid="true"' in text_of(response)
    if message:
        assert message in text_of(response)
    assert sessions_count() == 0


@pytest.mark.parametrize("day, at", [("9999-12-31", "23:30"), ("0001-01-01", "00:00")])
def test_dates_at_the_edge_of_the_calendar_are_form_errors_not_500(practice, client, day, at):
    """9999-12-31 23:30 in New York is in the year 10000 in UTC; 0001-01-01 in Tokyo is in the
    year 0: neither can be stored, so the form says so."""
    ruth = practice["ruth"]
    ruth.timezone = "America/New_York" if day.startswith("9999") else "Asia/Tokyo"
    db.session.commit()
    login(client, ruth)
    response = client.post(f"/clients/{practice['maria'].id}/sessions/new",
                           data={"day": day, "time": at})
    assert response.status_code in (200, 400)
    assert "Choose a date between 1900 and 2100." in text_of(response)
    assert sessions_count() == 0


# --- shared notes -------------------------------------------------------------------------------

def test_shared_notes_are_created_edited_and_keep_their_history(practice, client, app):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    login(client, ruth)

    page = text_of(client.get(f"/sessions/{session.id}"))
    assert hidden_value(page, "version") == "0"
    first = client.post(f"/sessions/{session.id}/shared-note",
                        data={"body": "We talked about the wedding.", "version": "0"})
    assert first.status_code == 302 and first.headers["Location"].endswith(f"/sessions/{session.id}")
    note = shared_of(session.id)
    assert (note.body, note.version, note.visibility) == ("We talked about the wedding.", 1, "client")

    page = text_of(client.get(f"/sessions/{session.id}"))
    assert hidden_value(page, "version") == "1"
    assert textarea(page, "body") == "We talked about the wedding."
    second = client.post(f"/sessions/{session.id}/shared-note",
                         data={"body": "We talked about the wedding and the seating plan.",
                               "version": "1"})
    assert second.status_code == 302
    note = shared_of(session.id)
    assert (note.body, note.version) == ("We talked about the wedding and the seating plan.", 2)
    assert revisions_of(note.id) == [(1, "We talked about the wedding.")]

    client_browser = app.test_client()
    login(client_browser, maria)
    shown = text_of(client_browser.get(f"/sessions/{session.id}"))
    assert "the seating plan" in shown
    for browser in (client, client_browser):
        history = browser.get(f"/sessions/{session.id}/history")
        assert history.status_code == 200
        text = text_of(history)
        assert "We talked about the wedding.</p>" in text
        assert "We talked about the wedding and the seating plan." in text
        assert "Version 1" in text


def test_saving_the_same_text_again_is_not_a_new_version(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    shared_note(ruth, session, "Same words.")
    login(client, ruth)
    response = client.post(f"/sessions/{session.id}/shared-note",
                           data={"body": "Same words.", "version": "1"})
    assert response.status_code == 302
    note = shared_of(session.id)
    assert note.version == 1 and revisions_of(note.id) == []


@pytest.mark.parametrize("body", ["", "   ", "\n\t\n"])
def test_an_empty_shared_note_is_refused_and_nothing_changes(practice, client, body):
    ruth, maria = practice["ruth"], practice["maria"]
    empty_session = record(ruth, maria)
    session = record(ruth, maria)
    shared_note(ruth, session, "Kept words.")
    login(client, ruth)

    for target, version in ((session, "1"), (empty_session, "0")):
        response = client.post(f"/sessions/{target.id}/shared-note",
                               data={"body": body, "version": version})
        assert response.status_code == 400
        assert "The note is empty. Write something first." in text_of(response)
    note = shared_of(session.id)
    assert (note.body, note.version) == ("Kept words.", 1)
    assert revisions_of(note.id) == []
    assert shared_of(empty_session.id) is None


@pytest.mark.parametrize("version", ["", "abc", "-1", "1.0", "²", "99999999999999999999999"])
def test_a_malformed_version_is_refused_without_a_crash(practice, client, version):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    shared_note(ruth, session, "Kept words.")
    login(client, ruth)
    data = {"body": "Intruding words.", "version": version}
    response = client.post(f"/sessions/{session.id}/shared-note", data=data)
    assert response.status_code in (400, 409)
    clinical = client.post(f"/sessions/{session.id}/clinical-note",
                           data={"clinical-body": "x", "clinical-version": version})
    assert clinical.status_code in (400, 409)
    note = shared_of(session.id)
    assert (note.body, note.version) == ("Kept words.", 1)
    assert clinical_of(session.id) is None


def test_unknown_session_ids_are_404(practice, client):
    login(client, practice["ruth"])
    for session_id in ("999999", "99999999999999999999999"):
        assert client.get(f"/sessions/{session_id}").status_code == 404
        assert client.get(f"/sessions/{session_id}/history").status_code == 404
        assert client.post(f"/sessions/{session_id}/shared-note",
                           data={"body": "x", "version": "0"}).status_code == 404
        assert client.post(f"/sessions/{session_id}/clinical-note",
                           data={"clinical-body": "x", "clinical-version": "0"}).status_code == 404
        assert client.post(f"/session-notes/{session_id}", data={}).status_code == 404
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionNote)) == 0


def test_a_client_cannot_write_shared_or_clinical_notes(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    shared_note(ruth, session, "Therapist words.")
    login(client, maria)
    assert client.post(f"/sessions/{session.id}/shared-note",
                       data={"body": "Client words.", "version": "1"}).status_code == 403
    assert client.post(f"/sessions/{session.id}/clinical-note",
                       data={"clinical-body": "Client words.", "clinical-version": "0"}).status_code == 403
    assert shared_of(session.id).body == "Therapist words."
    assert clinical_of(session.id) is None


# --- the clinical note --------------------------------------------------------------------------

def test_the_clinical_note_is_saved_apart_with_its_own_history(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    login(client, ruth)
    page = text_of(client.get(f"/sessions/{session.id}"))
    assert hidden_value(page, "clinical-version") == "0"
    response = client.post(f"/sessions/{session.id}/clinical-note",
                           data={"clinical-body": "Avoidant when the father comes up.",
                                 "clinical-version": "0"})
    assert response.status_code == 302
    note = clinical_of(session.id)
    assert (note.body, note.version, note.therapist_id) == ("Avoidant when the father comes up.", 1, ruth.id)
    assert shared_of(session.id) is None  # nothing went into the shared notes table
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionNote)) == 0

    page = text_of(client.get(f"/sessions/{session.id}"))
    assert textarea(page, "clinical-body") == "Avoidant when the father comes up."
    assert client.post(f"/sessions/{session.id}/clinical-note",
                       data={"clinical-body": "Less avoidant by the end.",
                             "clinical-version": hidden_value(page, "clinical-version")}).status_code == 302
    note = clinical_of(session.id)
    assert (note.body, note.version) == ("Less avoidant by the end.", 2)
    revisions = db.session.scalars(sa.select(ClinicalNoteRevision)).all()
    assert [(r.note_id, r.version, r.body) for r in revisions] == [
        (note.id, 1, "Avoidant when the father comes up.")]
    history = text_of(client.get(f"/sessions/{session.id}/history"))
    assert "Avoidant when the father comes up." in history and "Less avoidant by the end." in history

    empty = client.post(f"/sessions/{session.id}/clinical-note",
                        data={"clinical-body": " ", "clinical-version": "2"})
    assert empty.status_code == 400 and "The note is empty" in text_of(empty)
    assert clinical_of(session.id).version == 2


# --- optimistic locking -------------------------------------------------------------------------

def test_a_stale_version_gets_the_conflict_page_and_the_merge_saves(practice, client, app):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    shared_note(ruth, session, "Version one.", "Saved by the other tab.")
    login(client, ruth)

    conflict = client.post(f"/sessions/{session.id}/shared-note",
                           data={"body": "My own edit from version one.", "version": "1"})
    assert conflict.status_code == 409
    page = text_of(conflict)
    assert "Saved by the other tab." in page
    assert "My own edit from version one." in page
    assert hidden_value(page, "version") == "2"
    assert textarea(page, "body") == "My own edit from version one."
    note = shared_of(session.id)
    assert (note.body, note.version) == ("Saved by the other tab.", 2)  # no overwrite

    merged = "Saved by the other tab. My own edit from version one."
    response = client.post(f"/sessions/{session.id}/shared-note",
                           data={"body": merged, "version": hidden_value(page, "version")})
    assert response.status_code == 302
    note = shared_of(session.id)
    assert (note.body, note.version) == (merged, 3)
    assert revisions_of(note.id) == [(1, "Version one."), (2, "Saved by the other tab.")]


def test_a_stale_clinical_version_gets_the_conflict_page_with_prefixed_fields(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    clinical_note(ruth, session, "Clinical one.", "Clinical two.")
    login(client, ruth)
    conflict = client.post(f"/sessions/{session.id}/clinical-note",
                           data={"clinical-body": "Clinical mine.", "clinical-version": "1"})
    assert conflict.status_code == 409
    page = text_of(conflict)
    assert "Clinical two." in page and "Clinical mine." in page
    assert hidden_value(page, "clinical-version") == "2"
    assert textarea(page, "clinical-body") == "Clinical mine."
    response = client.post(f"/sessions/{session.id}/clinical-note",
                           data={"clinical-body": "Clinical two and mine.",
                                 "clinical-version": hidden_value(page, "clinical-version")})
    assert response.status_code == 302
    assert (clinical_of(session.id).body, clinical_of(session.id).version) == ("Clinical two and mine.", 3)


def test_a_first_save_against_a_note_written_meanwhile_is_a_conflict(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    login(client, ruth)
    page = text_of(client.get(f"/sessions/{session.id}"))  # version 0: no note yet
    shared_note(ruth, session, "Written in another tab.")
    response = client.post(f"/sessions/{session.id}/shared-note",
                           data={"body": "Written here.", "version": hidden_value(page, "version")})
    assert response.status_code == 409
    assert "Written in another tab." in text_of(response) and "Written here." in text_of(response)
    assert shared_of(session.id).body == "Written in another tab."


def _browsers(app, therapist, count=2):
    """Two signed-in browsers of the same therapist (two tabs, two devices)."""
    browsers = [app.test_client() for _ in range(count)]
    for browser in browsers:
        login(browser, therapist)
    return browsers


def _race(browsers, url, bodies, field_names, version):
    """Each browser posts its body at the same moment, all starting from `version`."""
    barrier = threading.Barrier(len(browsers))
    results: list = [None] * len(browsers)

    def save(i):
        barrier.wait()
        try:
            response = browsers[i].post(url, data={field_names[0]: bodies[i],
                                                   field_names[1]: str(version)})
            results[i] = (response.status_code, response.get_data(as_text=True))
        except Exception as exc:  # noqa: BLE001 - reported by the assertions
            results[i] = (500, repr(exc))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


ROUNDS = 15  # a race is decided by timing: run it several times


def test_two_concurrent_saves_one_wins_the_other_gets_the_conflict(practice, app):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    shared_note(ruth, session, "Round 0 text.")
    url = f"/sessions/{session.id}/shared-note"
    browsers = _browsers(app, ruth)
    for round_ in range(1, ROUNDS + 1):
        before = shared_of(session.id)
        before_version, before_body = before.version, before.body
        bodies = [f"Round {round_} from browser A.", f"Round {round_} from browser B."]
        results = _race(browsers, url, bodies, ("body", "version"), before_version)
        statuses = [status for status, _ in results]
        assert sorted(statuses) == [302, 409], results
        winner = statuses.index(302)
        loser = 1 - winner
        note = shared_of(session.id)
        assert note.body == bodies[winner]  # the winner's text, not overwritten by the loser
        assert note.version == before_version + 1
        assert revisions_of(note.id)[-1] == (before_version, before_body)
        conflict_page = results[loser][1]
        assert bodies[winner] in conflict_page and bodies[loser] in conflict_page
        assert hidden_value(conflict_page, "version") == str(before_version + 1)
    assert len(revisions_of(shared_of(session.id).id)) == ROUNDS


def test_two_concurrent_first_saves_do_not_make_two_notes(practice, app):
    """Both start from 'no note yet' (version 0): still exactly one note and one conflict."""
    ruth, maria = practice["ruth"], practice["maria"]
    browsers = _browsers(app, ruth)
    for round_ in range(ROUNDS):
        session = record(ruth, maria)
        bodies = [f"First {round_} from browser A.", f"First {round_} from browser B."]
        results = _race(browsers, f"/sessions/{session.id}/shared-note", bodies, ("body", "version"), 0)
        statuses = [status for status, _ in results]
        assert sorted(statuses) == [302, 409], (round_, results)
        db.session.expire_all()
        notes = db.session.scalars(sa.select(SessionNote).where(SessionNote.session_id == session.id)).all()
        assert [n.body for n in notes] == [bodies[statuses.index(302)]]
        assert bodies[statuses.index(302)] in results[statuses.index(409)][1]


def test_two_concurrent_clinical_saves_one_wins(practice, app):
    ruth, maria = practice["ruth"], practice["maria"]
    browsers = _browsers(app, ruth)
    fields = ("clinical-body", "clinical-version")
    for round_ in range(ROUNDS):
        session = record(ruth, maria)
        url = f"/sessions/{session.id}/clinical-note"
        first = [f"Clinical first {round_} A.", f"Clinical first {round_} B."]
        results = _race(browsers, url, first, fields, 0)
        statuses = [s for s, _ in results]
        assert sorted(statuses) == [302, 409], (round_, results)
        first_winner = first[statuses.index(302)]
        assert clinical_of(session.id).body == first_winner
        edits = [f"Clinical edit {round_} A.", f"Clinical edit {round_} B."]
        results = _race(browsers, url, edits, fields, 1)
        statuses = [s for s, _ in results]
        assert sorted(statuses) == [302, 409], (round_, results)
        note = clinical_of(session.id)
        assert (note.body, note.version) == (edits[statuses.index(302)], 2)
        assert [(r.version, r.body) for r in db.session.scalars(
            sa.select(ClinicalNoteRevision).where(ClinicalNoteRevision.note_id == note.id))] == [
            (1, first_winner)]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ClinicalNote)
                                 .where(ClinicalNote.session_id == session.id)) == 1


# --- client contributions -----------------------------------------------------------------------

def test_comments_are_read_by_their_author_and_the_therapist_only(practice, client, app):
    ruth, maria, elena = practice["ruth"], practice["maria"], practice["elena"]
    pair_session = record(ruth, practice["pair"])
    solo = record(ruth, maria)
    login(client, maria)
    for session in (pair_session, solo):
        response = client.post(f"/sessions/{session.id}/comments",
                               data={"body": f"COMMENT-OF-MARIA-{session.id}"})
        assert response.status_code == 302
    db.session.expire_all()
    assert sorted((c.session_id, c.author_id) for c in db.session.scalars(sa.select(SessionComment))) == \
        sorted([(pair_session.id, maria.id), (solo.id, maria.id)])

    therapist_browser, partner_browser = app.test_client(), app.test_client()
    login(therapist_browser, ruth)
    login(partner_browser, elena)
    for session in (pair_session, solo):
        assert f"COMMENT-OF-MARIA-{session.id}" in text_of(client.get(f"/sessions/{session.id}"))
        assert f"COMMENT-OF-MARIA-{session.id}" in text_of(therapist_browser.get(f"/sessions/{session.id}"))
    partner_page = partner_browser.get(f"/sessions/{pair_session.id}")
    assert partner_page.status_code == 200
    assert "COMMENT-OF-MARIA" not in text_of(partner_page)
    assert "COMMENT-OF-MARIA" not in text_of(partner_browser.get(f"/sessions/{pair_session.id}/history"))
    assert partner_browser.get(f"/sessions/{solo.id}").status_code == 404
    assert partner_browser.post(f"/sessions/{solo.id}/comments", data={"body": "x"}).status_code == 404


def test_an_empty_comment_is_refused(practice, client):
    session = record(practice["ruth"], practice["maria"])
    login(client, practice["maria"])
    response = client.post(f"/sessions/{session.id}/comments", data={"body": "   "}, follow_redirects=True)
    assert "Write your comment first." in text_of(response)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionComment)) == 0


def test_a_therapist_cannot_comment_as_the_client(practice, client):
    session = record(practice["ruth"], practice["maria"])
    login(client, practice["ruth"])
    assert client.post(f"/sessions/{session.id}/comments", data={"body": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionComment)) == 0


def test_agenda_items_reach_prep_and_the_session_and_are_ticked_off(practice, client, app):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    login(client, maria)
    empty = text_of(client.get("/sessions"))
    assert "Nothing on your list yet." in empty
    response = client.post("/agenda", data={"body": "AGENDA-CHRISTMAS-PLANS"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/sessions")
    db.session.expire_all()
    item = db.session.scalar(sa.select(AgendaItem))
    assert (item.client_id, item.therapist_id, item.done_at) == (maria.id, ruth.id, None)
    mine = text_of(client.get("/sessions"))
    assert "AGENDA-CHRISTMAS-PLANS" in mine and "Talked about" not in mine

    therapist = app.test_client()
    login(therapist, ruth)
    prep = text_of(therapist.get(f"/clients/{maria.id}/prep"))
    assert "AGENDA-CHRISTMAS-PLANS" in prep and f"/agenda/{item.id}/done" in prep
    assert "AGENDA-CHRISTMAS-PLANS" in text_of(therapist.get(f"/sessions/{session.id}"))

    # The client cannot tick it herself; another therapist does not even see it.
    assert client.post(f"/agenda/{item.id}/done").status_code == 403
    sam = app.test_client()
    login(sam, practice["sam"])
    assert sam.post(f"/agenda/{item.id}/done").status_code == 404
    db.session.expire_all()
    assert db.session.get(AgendaItem, item.id).done_at is None

    ticked = therapist.post(f"/agenda/{item.id}/done", data={"next_page": "prep"})
    assert ticked.status_code == 302 and ticked.headers["Location"].endswith(f"/clients/{maria.id}/prep")
    db.session.expire_all()
    assert db.session.get(AgendaItem, item.id).done_at is not None
    assert "AGENDA-CHRISTMAS-PLANS" not in text_of(therapist.get(f"/clients/{maria.id}/prep"))
    assert "AGENDA-CHRISTMAS-PLANS" not in text_of(therapist.get(f"/sessions/{session.id}"))

    mine = text_of(client.get("/sessions"))
    talked = mine.split("Talked about", 1)
    assert len(talked) == 2 and "AGENDA-CHRISTMAS-PLANS" in talked[1].split("</details>")[0]
    assert "Nothing on your list yet." in talked[0]


def test_an_empty_agenda_item_is_refused_and_a_therapist_cannot_add_one(practice, client, app):
    login(client, practice["maria"])
    response = client.post("/agenda", data={"body": "  "}, follow_redirects=True)
    assert "Write what you want to bring up." in text_of(response)
    therapist = app.test_client()
    login(therapist, practice["ruth"])
    assert therapist.post("/agenda", data={"body": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AgendaItem)) == 0


# --- pair sessions and member notes -------------------------------------------------------------

@pytest.fixture
def pair_browsers(practice, app):
    browsers = {}
    for key in ("ruth", "maria", "elena"):
        browsers[key] = app.test_client()
        login(browsers[key], practice[key])
    return browsers


def test_the_pair_summary_is_read_by_both_members(practice, pair_browsers):
    # held yesterday: "today at 10:00" is still ahead before ten, and the list of sessions held
    # would not have it yet
    session = record(practice["ruth"], practice["pair"], datetime.now(timezone.utc) - timedelta(days=1))
    response = pair_browsers["ruth"].post(f"/sessions/{session.id}/shared-note",
                                          data={"body": "PAIR-SUMMARY-WORDS", "version": "0"})
    assert response.status_code == 302
    for key in ("maria", "elena"):
        page = pair_browsers[key].get(f"/sessions/{session.id}")
        assert page.status_code == 200 and "PAIR-SUMMARY-WORDS" in text_of(page)
        assert "PAIR-SUMMARY-WORDS" in text_of(pair_browsers[key].get("/sessions"))


def test_member_note_visibility_is_the_authors_choice_and_changes_at_once(practice, pair_browsers):
    maria_b, elena_b, ruth_b = pair_browsers["maria"], pair_browsers["elena"], pair_browsers["ruth"]
    session = record(practice["ruth"], practice["pair"])
    url = f"/sessions/{session.id}"

    response = maria_b.post(f"{url}/member-notes", data={"body": "MARIAS-NOTE-WORDS", "visibility": "therapist",
                                                         "version": "0"})
    assert response.status_code == 302
    db.session.expire_all()
    note = db.session.scalar(sa.select(SessionNote).where(SessionNote.kind == "member"))
    assert (note.author_id, note.visibility, note.version) == (practice["maria"].id, "therapist", 1)
    assert "MARIAS-NOTE-WORDS" in text_of(maria_b.get(url))
    assert "MARIAS-NOTE-WORDS" in text_of(ruth_b.get(url))
    assert "MARIAS-NOTE-WORDS" not in text_of(elena_b.get(url))
    assert "MARIAS-NOTE-WORDS" not in text_of(elena_b.get(f"{url}/history"))
    assert elena_b.post(f"/session-notes/{note.id}", data={}).status_code == 404

    # She opens it to her partner: the edit form carries prefixed fields.
    page = text_of(maria_b.get(url))
    prefix = f"note{note.id}-"
    assert hidden_value(page, prefix + "version") == "1"
    response = maria_b.post(f"/session-notes/{note.id}", data={
        prefix + "body": "MARIAS-NOTE-WORDS", prefix + "version": "1", prefix + "visibility": "pair"})
    assert response.status_code == 302
    assert "MARIAS-NOTE-WORDS" in text_of(elena_b.get(url))
    # The partner reads it but cannot change it.
    assert elena_b.post(f"/session-notes/{note.id}", data={
        prefix + "body": "Changed by Elena", prefix + "version": "2",
        prefix + "visibility": "pair"}).status_code == 403

    # And closes it again.
    response = maria_b.post(f"/session-notes/{note.id}", data={
        prefix + "body": "MARIAS-NOTE-WORDS", prefix + "version": "2", prefix + "visibility": "therapist"})
    assert response.status_code == 302
    assert "MARIAS-NOTE-WORDS" not in text_of(elena_b.get(url))
    assert "MARIAS-NOTE-WORDS" in text_of(ruth_b.get(url))
    db.session.expire_all()
    note = db.session.get(SessionNote, note.id)
    assert (note.body, note.visibility, note.version) == ("MARIAS-NOTE-WORDS", "therapist", 3)


def test_a_member_note_open_to_the_partner_closes_when_the_pair_ends(practice, pair_browsers):
    session = record(practice["ruth"], practice["pair"])
    note = member_note(practice["maria"], session, "MARIA-FOR-BOTH", "pair")
    url = f"/sessions/{session.id}"
    assert "MARIA-FOR-BOTH" in text_of(pair_browsers["elena"].get(url))
    left = pair_browsers["elena"].post(f"/pairs/{practice['pair'].id}/leave")
    assert left.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(practice["pair"]), practice["pair"].id).ended_at is not None
    partner_view = pair_browsers["elena"].get(url)
    assert "MARIA-FOR-BOTH" not in text_of(partner_view)
    assert "MARIA-FOR-BOTH" not in text_of(pair_browsers["elena"].get(f"{url}/history"))
    assert pair_browsers["elena"].post(f"/session-notes/{note.id}", data={}).status_code == 404
    assert "MARIA-FOR-BOTH" in text_of(pair_browsers["maria"].get(url))
    assert "MARIA-FOR-BOTH" in text_of(pair_browsers["ruth"].get(url))


def test_member_notes_bad_input(practice, pair_browsers):
    session = record(practice["ruth"], practice["pair"])
    maria_b = pair_browsers["maria"]
    empty = maria_b.post(f"/sessions/{session.id}/member-notes",
                         data={"body": " ", "visibility": "pair", "version": "0"})
    assert empty.status_code == 400 and "The note is empty" in text_of(empty)
    odd = maria_b.post(f"/sessions/{session.id}/member-notes",
                       data={"body": "words", "visibility": "everyone", "version": "0"})
    assert odd.status_code == 400
    # The therapist writes the summary, not member notes; a solo session has none.
    assert pair_browsers["ruth"].post(f"/sessions/{session.id}/member-notes", data={
        "body": "x", "visibility": "pair", "version": "0"}).status_code == 403
    solo = record(practice["ruth"], practice["maria"])
    assert maria_b.post(f"/sessions/{solo.id}/member-notes", data={
        "body": "x", "visibility": "pair", "version": "0"}).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionNote)) == 0

    note = member_note(practice["maria"], session, "Original words.", "therapist")
    prefix = f"note{note.id}-"
    response = maria_b.post(f"/session-notes/{note.id}", data={
        prefix + "body": "  ", prefix + "version": "1", prefix + "visibility": "pair"}, follow_redirects=True)
    assert "The note is empty" in text_of(response)
    stale = maria_b.post(f"/session-notes/{note.id}", data={
        prefix + "body": "Newer", prefix + "version": "0", prefix + "visibility": "pair"})
    assert stale.status_code == 409
    assert "Original words." in text_of(stale) and "Newer" in text_of(stale)
    assert hidden_value(text_of(stale), prefix + "version") == "1"
    db.session.expire_all()
    note = db.session.get(SessionNote, note.id)
    assert (note.body, note.visibility, note.version) == ("Original words.", "therapist", 1)


# --- the client's Sessions page -----------------------------------------------------------------

def test_the_sessions_page_is_newest_first_and_paginated(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    start = datetime(2024, 1, 1, 10, 0, tzinfo=timezone.utc)
    for i in range(12):  # recorded out of order on purpose
        n = (i * 5) % 12
        session = record(ruth, maria, starts_at=start + timedelta(days=7 * n))
        shared_note(ruth, session, f"SUMMARY-{n:02d}-END")
    other = record(ruth, practice["elena"])
    shared_note(ruth, other, "ELENAS-SUMMARY")
    login(client, maria)

    first = text_of(client.get("/sessions"))
    order = [n for n in range(12) if f"SUMMARY-{n:02d}-END" in first]
    assert order == list(range(2, 12))
    positions = [first.index(f"SUMMARY-{n:02d}-END") for n in range(11, 1, -1)]
    assert positions == sorted(positions)
    assert "Page 1 of 2" in first and "page=2" in first
    second = text_of(client.get("/sessions?page=2"))
    assert [n for n in range(12) if f"SUMMARY-{n:02d}-END" in second] == [0, 1]
    assert second.index("SUMMARY-01-END") < second.index("SUMMARY-00-END")
    for page in (first, second):
        assert "ELENAS-SUMMARY" not in page

    for odd in ("999999999999999999999", "-5", "0", "abc", "1e9"):
        response = client.get(f"/sessions?page={odd}")
        assert response.status_code in (200, 404), odd


def test_the_sessions_page_includes_pair_sessions_and_has_an_empty_state(practice, client, app):
    login(client, practice["maria"])
    empty = text_of(client.get("/sessions"))
    assert "No sessions recorded yet." in empty
    session = record(practice["ruth"], practice["pair"], datetime.now(timezone.utc) - timedelta(days=1))
    shared_note(practice["ruth"], session, "PAIR-SESSION-SUMMARY")
    page = text_of(client.get("/sessions"))
    assert "No sessions recorded yet." not in page
    assert "PAIR-SESSION-SUMMARY" in page and "pair session" in page and "partner" not in page
    therapist = app.test_client()
    login(therapist, practice["ruth"])
    assert therapist.get("/sessions").status_code == 403


# --- session prep -------------------------------------------------------------------------------

def test_session_prep_shows_everything_since_the_last_session(practice, client, app):
    ruth, maria = practice["ruth"], practice["maria"]
    before_task = assign(ruth, maria, due=-10, title="TASK-BEFORE-LAST-SESSION")
    submit(maria, before_task, ratings={"resentment": 10, "closeness": 1, "stayed_present": "no"},
           submitted_at=days_ago(6))
    record(ruth, maria, starts_at=days_ago(4))
    record(ruth, maria, starts_at=days_ago(10))        # an older session does not move "since"
    record(ruth, maria, starts_at=days_ago(-3))        # nor does one planned in the future
    reviewed_task = assign(ruth, maria, due=-3, title="TASK-REVIEWED-ONE")
    reviewed = submit(maria, reviewed_task, ratings={"resentment": 8, "closeness": 2,
                                                     "stayed_present": "partly"},
                      submitted_at=days_ago(3))
    reviewed.reviewed_at = days_ago(2)
    db.session.commit()
    waiting_task = assign(ruth, maria, due=-1, title="TASK-NOT-REVIEWED-ONE")
    submit(maria, waiting_task, ratings={"resentment": 3, "closeness": 7, "stayed_present": "yes"},
           submitted_at=days_ago(1))
    assign(ruth, maria, due=-2, title="TASK-OVERDUE-ONE")
    assign(ruth, maria, due=5, title="TASK-UPCOMING-ONE")
    cancelled = assign(ruth, maria, due=1, title="TASK-CANCELLED-ONE")
    cancelled.status = "cancelled"
    db.session.commit()
    maria_browser = app.test_client()
    login(maria_browser, maria)
    assert maria_browser.post("/agenda", data={"body": "AGENDA-FOR-PREP"}).status_code == 302
    login(client, ruth)

    response = client.get(f"/clients/{maria.id}/prep")
    assert response.status_code == 200
    page = text_of(response)
    assert f"Everything since {maria.name.split()[0]}’s last session on" in page
    assert "TASK-BEFORE-LAST-SESSION" not in page
    assert "Reflections <span class=\"count\">2</span>" in page
    reflections = page.split('id="reflections-heading"', 1)[1].split("</section>", 1)[0]
    reviewed_row = reflections.split("TASK-REVIEWED-ONE", 1)[1].split("</li>", 1)[0]
    waiting_row = reflections.split("TASK-NOT-REVIEWED-ONE", 1)[1].split("</li>", 1)[0]
    assert "not reviewed" not in reviewed_row and "reviewed" in reviewed_row
    assert "not reviewed" in waiting_row
    ratings = page.split('id="trend-heading"', 1)[1].split("</section>", 1)[0]
    assert ratings.count("<tr><td>") == 2
    assert "<td>8</td>" in ratings and "<td>3</td>" in ratings and "<td>10</td>" not in ratings
    assert "Resentment fell by 5" in ratings
    assert "AGENDA-FOR-PREP" in page
    tasks = page.split('id="tasks-heading"', 1)[1].split("</section>", 1)[0]
    assert "TASK-OVERDUE-ONE" in tasks and "TASK-UPCOMING-ONE" in tasks
    assert "TASK-CANCELLED-ONE" not in tasks and "TASK-REVIEWED-ONE" not in tasks
    overdue_row = tasks.split("TASK-OVERDUE-ONE", 1)[1].split("</li>", 1)[0]
    upcoming_row = tasks.split("TASK-UPCOMING-ONE", 1)[1].split("</li>", 1)[0]
    assert "overdue" in overdue_row and "overdue" not in upcoming_row


def test_session_prep_without_any_session_lists_everything(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    submit(maria, assign(ruth, maria, due=-30, title="TASK-LONG-AGO"), submitted_at=days_ago(30))
    login(client, ruth)
    page = text_of(client.get(f"/clients/{maria.id}/prep"))
    assert "No session recorded yet" in page and "TASK-LONG-AGO" in page


def test_session_prep_is_the_therapists_alone(practice, client, app):
    maria = practice["maria"]
    login(client, maria)
    assert client.get(f"/clients/{maria.id}/prep").status_code == 403
    assert client.get(f"/clients/{practice['elena'].id}/prep").status_code == 404
    sam = app.test_client()
    login(sam, practice["sam"])
    assert sam.get(f"/clients/{maria.id}/prep").status_code == 404
    assert audit_actions(practice["sam"], "read_session_prep") == []


def test_reading_prep_and_sessions_is_audited(practice, client, app):
    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    pair_session = record(ruth, practice["pair"])
    login(client, ruth)
    assert client.get(f"/clients/{maria.id}/prep").status_code == 200
    events = audit_actions(ruth, "read_session_prep")
    assert [(e.subject_id, e.object_type, e.object_id) for e in events] == [(maria.id, "User", maria.id)]

    assert client.get(f"/sessions/{session.id}").status_code == 200
    events = audit_actions(ruth, "read_session")
    assert [(e.subject_id, e.object_type, e.object_id) for e in events] == [
        (maria.id, "TherapySession", session.id)]
    assert client.get(f"/sessions/{pair_session.id}/history").status_code == 200
    events = audit_actions(ruth, "read_session")[1:]
    assert sorted(e.subject_id for e in events) == sorted([maria.id, practice["elena"].id])

    own = app.test_client()
    login(own, maria)
    assert own.get(f"/sessions/{session.id}").status_code == 200
    assert audit_actions(maria, "read_session") == []


# --- with CSRF protection on, as in production ---------------------------------------------------

def test_the_note_forms_carry_their_csrf_tokens(practice, csrf_app):
    """Every form on the session and conflict pages works with CSRF on (the token is in the
    page); a post without it changes nothing."""
    from tests.conftest import csrf_token_from

    ruth, maria = practice["ruth"], practice["maria"]
    session = record(ruth, maria)
    browser = csrf_app.test_client()
    from tests.conftest import login
    login(browser, ruth)  # through the real forms, with their CSRF tokens

    refused = browser.post(f"/sessions/{session.id}/shared-note", data={"body": "No token.", "version": "0"})
    assert refused.status_code in (400, 403)
    assert shared_of(session.id) is None

    page = text_of(browser.get(f"/sessions/{session.id}"))
    token = csrf_token_from(page)
    assert browser.post(f"/sessions/{session.id}/shared-note", data={
        "body": "With a token.", "version": "0", "csrf_token": token}).status_code == 302
    conflict = browser.post(f"/sessions/{session.id}/shared-note", data={
        "body": "Stale.", "version": "0", "csrf_token": token})
    assert conflict.status_code == 409
    conflict_page = text_of(conflict)
    assert browser.post(f"/sessions/{session.id}/shared-note", data={
        "body": "Merged.", "version": hidden_value(conflict_page, "version"),
        "draft_version": hidden_value(conflict_page, "draft_version"),  # her text, kept meanwhile
        "csrf_token": csrf_token_from(conflict_page)}).status_code == 302
    assert shared_of(session.id).body == "Merged."
    assert browser.post(f"/sessions/{session.id}/clinical-note", data={
        "clinical-body": "Clinical.", "clinical-version": "0",
        "clinical-csrf_token": token}).status_code == 302
    assert clinical_of(session.id).body == "Clinical."
    # the page's one form (both notes and the agenda) is refused without its token, saved with it
    page = text_of(browser.get(f"/sessions/{session.id}"))
    assert f'action="/sessions/{session.id}/notes"' in page
    both = {"body": "Both, shared.", "version": hidden_value(page, "version"),
            "clinical-body": "Both, clinical.", "clinical-version": hidden_value(page, "clinical-version")}
    assert browser.post(f"/sessions/{session.id}/notes", data=both).status_code in (400, 403)
    assert (shared_of(session.id).body, clinical_of(session.id).body) == ("Merged.", "Clinical.")
    assert browser.post(f"/sessions/{session.id}/notes",
                        data={**both, "csrf_token": csrf_token_from(page)}).status_code == 302
    assert (shared_of(session.id).body, clinical_of(session.id).body) == ("Both, shared.", "Both, clinical.")


def test_a_note_over_the_limit_is_refused(practice, client):
    from app.therapy_sessions.forms import NOTE_MAX

    session = record(practice["ruth"], practice["maria"])
    login(client, practice["ruth"])
    response = client.post(f"/sessions/{session.id}/shared-note",
                           data={"body": "x" * (NOTE_MAX + 1), "version": "0"})
    assert response.status_code == 400 and "Please keep it under" in text_of(response)
    assert shared_of(session.id) is None
    assert client.post(f"/sessions/{session.id}/shared-note",
                       data={"body": "x" * NOTE_MAX, "version": "0"}).status_code == 302
