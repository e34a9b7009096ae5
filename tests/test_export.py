"""Export and closing an account: a client's whole record (and nothing of anyone else's) as JSON
and as a printable page; her therapist's export adds the private notes; every export is audited;
a closed account signs her out at once, keeps the record, and can still be exported."""
from __future__ import annotations

import json
from datetime import time

import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.homework import reflections as reflection_services
from app.homework import review as review_services
from app.models import AuditEvent, LoginSession, Reflection, User
from app.pairs import services as pair_services
from app.therapy_sessions import services as session_services
from tests.builders_homework import assign, submit
from tests.builders_pairs import give_to_pair, link, signed_in, text_of
from tests.builders_sessions import clinical_note, member_note, shared_note
from tests.conftest import PASSWORD, make_client, make_therapist

# Hers: in every export of her record.
HERS = ["C-ANSWER-ONE", "C-ANSWER-TWO", "C-ADDENDUM", "C-FEEDBACK", "C-TASK-TITLE", "C-TASK-NOTE",
        "C-PAIR-ANSWER", "SHARED-V1", "SHARED-V2", "PAIR-SUMMARY", "C-COMMENT", "C-MEMBER-V1",
        "C-MEMBER-V2", "C-AGENDA"]
# The therapist's private notes about her: only in the therapist's export.
PRIVATE = ["PRIVATE-ANNOTATION", "CLINICAL-ONE"]
# Anyone else's: never in her export, whoever asks (her partner's shared words included).
OTHERS = ["P-SHARED-REFLECTION", "P-UNSHARED-REFLECTION", "P-FEEDBACK", "P-ANNOTATION", "P-MEMBER-NOTE",
          "P-COMMENT", "P-AGENDA", "P-SESSION-SUMMARY", "P-CLINICAL", "O-REFLECTION", "O-AGENDA"]


@pytest.fixture
def record(app):
    """Maria (C) and her linked partner Elena (P), Olga another client of Ruth; Sam another
    therapist. Every piece of writing carries a sentinel naming whose it is."""
    ruth, sam = make_therapist("Ruth"), make_therapist("Sam")
    maria, elena, olga = make_client(ruth, "Maria"), make_client(ruth, "Elena"), make_client(ruth, "Olga")
    ratings = {"resentment": 6, "closeness": 4, "stayed_present": "partly"}

    # Maria's own task: answers, an addendum, feedback and a private annotation
    task = assign(ruth, maria, due=1, title="C-TASK-TITLE", note="C-TASK-NOTE")
    reflection = submit(maria, task, answers=["C-ANSWER-ONE", "C-ANSWER-TWO"], ratings=ratings)
    reflection_services.add_addendum(maria, reflection, "C-ADDENDUM")
    review_services.give_feedback(ruth, reflection, "C-FEEDBACK", True)
    review_services.annotate(ruth, reflection, "PRIVATE-ANNOTATION")
    open_task = assign(ruth, maria, due=3, title="An open one")

    # the pair: both answer a pair exercise and share; Elena also keeps one to herself
    pair = link(ruth, maria, elena)
    _, pair_tasks = give_to_pair(ruth, pair)
    mine = submit(maria, pair_tasks[maria.id], answers=["C-PAIR-ANSWER"])
    theirs = submit(elena, pair_tasks[elena.id], answers=["P-SHARED-REFLECTION"])
    pair_services.share(maria, mine)
    pair_services.share(elena, theirs)
    unshared = submit(elena, assign(ruth, elena, due=1), answers=["P-UNSHARED-REFLECTION"])
    review_services.give_feedback(ruth, theirs, "P-FEEDBACK", True)
    review_services.annotate(ruth, unshared, "P-ANNOTATION")

    # sessions: Maria's own, the pair's, and Elena's own
    today = today_for(ruth)
    own = session_services.record_session(ruth, maria, today, time(9, 0), 50)
    shared_note(ruth, own, "SHARED-V1", "SHARED-V2")
    clinical_note(ruth, own, "CLINICAL-ONE")
    session_services.add_comment(maria, own, "C-COMMENT")
    together = session_services.record_session(ruth, pair, today, time(11, 0), 60)
    shared_note(ruth, together, "PAIR-SUMMARY")
    member_note(maria, together, "C-MEMBER-V1", "therapist", ("C-MEMBER-V2", "pair"))
    member_note(elena, together, "P-MEMBER-NOTE", "pair")
    session_services.add_comment(elena, together, "P-COMMENT")
    hers = session_services.record_session(ruth, elena, today, time(14, 0), 50)
    shared_note(ruth, hers, "P-SESSION-SUMMARY")
    clinical_note(ruth, hers, "P-CLINICAL")

    session_services.add_agenda_item(maria, "C-AGENDA")
    session_services.add_agenda_item(elena, "P-AGENDA")
    session_services.add_agenda_item(olga, "O-AGENDA")
    submit(olga, assign(ruth, olga, due=1), answers=["O-REFLECTION"])
    return dict(ruth=ruth, sam=sam, maria=maria, elena=elena, olga=olga, task=task,
                open_task=open_task, reflection=reflection, own=own, together=together)


def exports(actor) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "record_exported", AuditEvent.actor_id == actor.id))


def download(browser, url: str) -> dict:
    response = browser.get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return json.loads(response.get_data(as_text=True))


def task_titled(data: dict, title: str) -> dict:
    (task,) = [t for t in data["tasks"] if t["title"] == title]
    return task


def session_at(data: dict, with_partner: bool) -> dict:
    (session,) = [s for s in data["sessions"] if s["with_partner"] is with_partner]
    return session


def test_client_json_export_holds_her_whole_record(app, record):
    maria = record["maria"]
    browser = signed_in(app, maria)
    before = exports(maria)
    data = download(browser, "/export.json")
    assert exports(maria) == before + 1
    assert data["format"] == "common-ground-record"
    assert data["client"]["email"] == maria.email
    assert data["includes_therapist_private_notes"] is False

    task = task_titled(data, "C-TASK-TITLE")
    assert task["note"] == "C-TASK-NOTE"
    reflection = task["reflection"]
    assert reflection["answers"][:2] == ["C-ANSWER-ONE", "C-ANSWER-TWO"]
    assert (reflection["resentment"], reflection["closeness"], reflection["stayed_present"]) == (6, 4, "partly")
    assert reflection["submitted_at"]
    assert [a["text"] for a in reflection["addenda"]] == ["C-ADDENDUM"]
    assert [f["text"] for f in reflection["feedback"]] == ["C-FEEDBACK"]
    assert "private_annotations" not in reflection
    assert task_titled(data, "An open one")["reflection"] is None
    assert len(data["tasks"]) == 3  # her own two and her side of the pair exercise

    own = session_at(data, with_partner=False)
    assert own["shared_notes"]["text"] == "SHARED-V2"
    assert [v["text"] for v in own["shared_notes"]["earlier_versions"]] == ["SHARED-V1"]
    assert [c["text"] for c in own["my_comments"]] == ["C-COMMENT"]
    assert "private_clinical_note" not in own
    together = session_at(data, with_partner=True)
    assert together["shared_notes"]["text"] == "PAIR-SUMMARY"
    (note,) = together["my_notes"]
    assert (note["text"], note["visible_to"]) == ("C-MEMBER-V2", "pair")
    assert [v["text"] for v in note["earlier_versions"]] == ["C-MEMBER-V1"]
    assert together["my_comments"] == []
    assert [a["text"] for a in data["agenda_items"]] == ["C-AGENDA"]

    raw = json.dumps(data)
    for sentinel in HERS:
        assert sentinel in raw, sentinel
    for sentinel in PRIVATE + OTHERS:
        assert sentinel not in raw, sentinel


def test_therapist_json_export_adds_her_private_notes_and_nothing_of_anyone_else(app, record):
    ruth, maria = record["ruth"], record["maria"]
    before = exports(ruth)
    data = download(signed_in(app, ruth), f"/clients/{maria.id}/export.json?private_notes=1")
    assert exports(ruth) == before + 1
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "record_exported")
                               .order_by(AuditEvent.id.desc())).first()
    assert (event.actor_id, event.subject_id) == (ruth.id, maria.id)
    assert data["includes_therapist_private_notes"] is True
    assert data["exported_by"] == ruth.email
    reflection = task_titled(data, "C-TASK-TITLE")["reflection"]
    assert [n["text"] for n in reflection["private_annotations"]] == ["PRIVATE-ANNOTATION"]
    assert session_at(data, with_partner=False)["private_clinical_note"]["text"] == "CLINICAL-ONE"
    raw = json.dumps(data)
    for sentinel in HERS + PRIVATE:
        assert sentinel in raw, sentinel
    for sentinel in OTHERS:
        assert sentinel not in raw, sentinel


def test_partner_export_holds_none_of_marias_writing(app, record):
    """The same from the other side: Elena's export has nothing Maria wrote, shared or not."""
    data = download(signed_in(app, record["elena"]), "/export.json")
    raw = json.dumps(data)
    for sentinel in ["P-SHARED-REFLECTION", "P-UNSHARED-REFLECTION", "P-FEEDBACK", "P-MEMBER-NOTE",
                     "P-COMMENT", "P-AGENDA", "P-SESSION-SUMMARY", "PAIR-SUMMARY"]:
        assert sentinel in raw, sentinel
    for sentinel in HERS + PRIVATE + ["P-ANNOTATION", "P-CLINICAL", "O-REFLECTION"]:
        if sentinel != "PAIR-SUMMARY":
            assert sentinel not in raw, sentinel


def test_printable_page_shows_the_same(app, record):
    maria = record["maria"]
    browser = signed_in(app, maria)
    before = exports(maria)
    response = browser.get("/export")
    assert response.status_code == 200
    assert exports(maria) == before + 1
    page = text_of(response)
    for sentinel in HERS:
        assert sentinel in page, sentinel
    for sentinel in PRIVATE + OTHERS:
        assert sentinel not in page, sentinel
    assert 'href="/export.json"' in response.get_data(as_text=True)


def test_therapist_printable_page_adds_private_notes(app, record):
    ruth, maria = record["ruth"], record["maria"]
    before = exports(ruth)
    response = signed_in(app, ruth).get(f"/clients/{maria.id}/export?private_notes=1")
    assert response.status_code == 200
    assert exports(ruth) == before + 1
    page = text_of(response)
    for sentinel in HERS + PRIVATE:
        assert sentinel in page, sentinel
    for sentinel in OTHERS:
        assert sentinel not in page, sentinel
    assert "This export includes your private notes" in page
    assert f'href="/clients/{maria.id}/export.json?private_notes=1"' in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/clients/{id}/export.json", "/clients/{id}/export"])
def test_therapist_export_leaves_out_psychotherapy_notes_unless_she_asks(app, record, url):
    """Psychotherapy notes are kept apart from the record (45 CFR 164.501): the plain export of
    a record holds none of them; only asking for them adds them."""
    ruth, maria = record["ruth"], record["maria"]
    response = signed_in(app, ruth).get(url.format(id=maria.id))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for sentinel in HERS:
        assert sentinel in body, sentinel
    for sentinel in PRIVATE + OTHERS:
        assert sentinel not in body, sentinel
    if url.endswith(".json"):
        data = json.loads(body)
        assert data["includes_therapist_private_notes"] is False
        assert "private_annotations" not in task_titled(data, "C-TASK-TITLE")["reflection"]
    else:
        assert "Include my private notes" in text_of(response)


def test_a_client_cannot_ask_for_psychotherapy_notes(app, record):
    browser = signed_in(app, record["maria"])
    for url in ("/export.json?private_notes=1", "/export?private_notes=1"):
        body = browser.get(url).get_data(as_text=True)
        for sentinel in PRIVATE:
            assert sentinel not in body, (url, sentinel)


def test_her_therapist_export_never_holds_her_drafts(app, record):
    """A draft is its author's alone: in her own export, never in her therapist's."""
    maria, ruth = record["maria"], record["ruth"]
    reflection_services.save_draft(maria, record["open_task"], ["DRAFT-MARKER"], {})
    mine = json.dumps(download(signed_in(app, maria), "/export.json"))
    assert "DRAFT-MARKER" in mine
    therapist = signed_in(app, ruth)
    for url in (f"/clients/{maria.id}/export.json", f"/clients/{maria.id}/export",
                f"/clients/{maria.id}/export.json?private_notes=1"):
        body = therapist.get(url).get_data(as_text=True)
        assert "DRAFT-MARKER" not in body, url
        assert "draft_saved_at" not in body, url


def test_printable_export_shows_dates_as_people_read_them(app, record):
    """No raw timestamps: dates in the reader's zone; the JSON keeps ISO 8601."""
    import re

    ruth, maria = record["ruth"], record["maria"]
    ruth.timezone = "America/New_York"
    db.session.commit()
    page = text_of(signed_in(app, ruth).get(f"/clients/{maria.id}/export"))
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page), "a raw ISO timestamp on the page"
    assert not re.search(r"\+00:00", page)
    data = download(signed_in(app, ruth), f"/clients/{maria.id}/export.json")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*\+00:00", data["exported_at"])
    # a due date is a calendar day: the same day in New York as in the JSON
    due = task_titled(data, "C-TASK-TITLE")["due_date"]
    from datetime import date

    assert date.fromisoformat(due).strftime("%a %-d %b %Y") in page


@pytest.mark.parametrize("url", ["/clients/{id}/export.json", "/clients/{id}/export"])
def test_no_one_else_exports_her_record(app, record, url):
    maria = record["maria"]
    url = url.format(id=maria.id)
    for intruder in ("sam", "elena", "olga"):
        before = exports(record[intruder])
        assert signed_in(app, record[intruder]).get(url).status_code == 404, intruder
        assert exports(record[intruder]) == before
    # she herself uses /export; her own id under /clients answers 403
    assert signed_in(app, maria).get(url).status_code == 403
    assert app.test_client().get(url).status_code == 302
    assert signed_in(app, record["ruth"]).get("/clients/999999/export.json").status_code == 404


def test_a_therapist_has_no_export_of_her_own(app, record):
    assert signed_in(app, record["ruth"]).get("/export.json").status_code == 403
    assert signed_in(app, record["ruth"]).get("/export").status_code == 403
    assert app.test_client().get("/export.json").status_code == 302


# --- closing an account ---------------------------------------------------------------------------

def test_closing_signs_her_out_at_once_and_keeps_the_record(app, record):
    ruth, maria = record["ruth"], record["maria"]
    her_browser = signed_in(app, maria)
    remembered = app.test_client()
    from tests.conftest import login

    login(remembered, maria, remember=True)
    assert her_browser.get("/home").status_code == 200
    rows_before = db.session.scalar(sa.select(sa.func.count()).select_from(Reflection).where(
        Reflection.author_id == maria.id))

    response = signed_in(app, ruth).post(f"/clients/{maria.id}/close")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/clients/{maria.id}"
    db.session.expire_all()
    assert db.session.get(User, maria.id).closed_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "account_closed", AuditEvent.subject_id == maria.id)) == 1

    # the browser she was signed in with is refused at once, remembered or not
    for browser in (her_browser, remembered):
        refused = browser.get("/home")
        assert refused.status_code == 302 and "/login" in refused.headers["Location"]
        assert browser.get("/export.json").status_code == 302
    assert all(s.ended_at is not None for s in db.session.scalars(
        sa.select(LoginSession).where(LoginSession.user_id == maria.id)))
    # and she cannot sign in again
    again = app.test_client().post("/login", data={"email": maria.email, "password": PASSWORD})
    assert again.status_code == 200
    assert "We could not sign you in" in again.get_data(as_text=True)

    # the record is kept, shown as closed, and her therapist can still export it
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reflection).where(
        Reflection.author_id == maria.id)) == rows_before
    therapist_browser = signed_in(app, ruth)
    page = therapist_browser.get(f"/clients/{maria.id}").get_data(as_text=True)
    assert "closed" in page and "Close the account" not in page
    data = download(therapist_browser, f"/clients/{maria.id}/export.json?private_notes=1")
    assert data["client"]["closed_at"] is not None
    raw = json.dumps(data)
    for sentinel in HERS + PRIVATE:
        assert sentinel in raw, sentinel
    assert therapist_browser.get(f"/clients/{maria.id}/export").status_code == 200
    # closing twice changes nothing more
    assert signed_in(app, ruth).post(f"/clients/{maria.id}/close").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "account_closed", AuditEvent.subject_id == maria.id)) == 1


def test_only_her_therapist_closes_her_account(app, record):
    maria = record["maria"]
    assert signed_in(app, record["sam"]).post(f"/clients/{maria.id}/close").status_code == 404
    assert signed_in(app, record["olga"]).post(f"/clients/{maria.id}/close").status_code == 404
    her_browser = signed_in(app, maria)
    assert her_browser.post(f"/clients/{maria.id}/close").status_code == 403
    assert app.test_client().post(f"/clients/{maria.id}/close").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, maria.id).closed_at is None
    assert her_browser.get("/home").status_code == 200


def test_closing_needs_the_csrf_token(app, record):
    from tests.conftest import csrf_token_from

    ruth, maria = record["ruth"], record["maria"]
    browser = signed_in(app, ruth)
    app.config["WTF_CSRF_ENABLED"] = True  # from here on, as in production
    assert browser.post(f"/clients/{maria.id}/close").status_code == 400
    db.session.expire_all()
    assert db.session.get(User, maria.id).closed_at is None
    page = browser.get(f"/clients/{maria.id}").get_data(as_text=True)
    assert browser.post(f"/clients/{maria.id}/close",
                        data={"csrf_token": csrf_token_from(page)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, maria.id).closed_at is not None
