"""Issue 14, defect 3: on the session page, saving one part never throws away another. The
therapist's shared note, private clinical note and agenda ticks are one form with one Save; a
note saved by someone else meanwhile is reported without losing the other parts; each box is
labelled for what it is; a client's refused comment comes back with her text."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import AgendaItem
from app.therapy_sessions import services as session_services
from tests.builders_sessions import (
    clinical_note,
    clinical_of,
    hidden_value,
    record,
    shared_note,
    shared_of,
    text_of,
)
from tests.conftest import login


def _page(client, session_id) -> str:
    return text_of(client.get(f"/sessions/{session_id}"))


def _form_of(page: str) -> dict:
    return {"body": "", "version": hidden_value(page, "version"),
            "clinical-body": "", "clinical-version": hidden_value(page, "clinical-version")}


def test_one_save_keeps_both_notes_she_was_typing(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    login(client, ruth)
    page = _page(client, session.id)
    # both boxes belong to the one form that posts to the page's one Save
    forms = re.findall(r"<form\b[^>]*>.*?</form>", page, re.S)
    (notes_form,) = [f for f in forms if f'action="/sessions/{session.id}/notes"' in f]
    assert 'name="body"' in notes_form and 'name="clinical-body"' in notes_form
    data = {**_form_of(page), "body": "SHARED-TYPED", "clinical-body": "CLINICAL-TYPED"}
    response = client.post(f"/sessions/{session.id}/notes", data=data)
    assert response.status_code == 302
    assert shared_of(session.id).body == "SHARED-TYPED"
    assert clinical_of(session.id).body == "CLINICAL-TYPED"


def test_saving_only_the_private_note_leaves_the_shared_one_alone(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    shared_note(ruth, session, "SHARED-KEPT")
    login(client, ruth)
    page = _page(client, session.id)
    data = {**_form_of(page), "body": "SHARED-KEPT", "clinical-body": "ONLY-CLINICAL"}
    assert client.post(f"/sessions/{session.id}/notes", data=data).status_code == 302
    note = shared_of(session.id)
    assert (note.body, note.version) == ("SHARED-KEPT", 1)  # not saved again
    assert clinical_of(session.id).body == "ONLY-CLINICAL"


def test_an_empty_shared_note_is_no_reason_to_refuse_the_private_one(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    login(client, ruth)
    data = {**_form_of(_page(client, session.id)), "clinical-body": "FIRST-CLINICAL"}
    assert client.post(f"/sessions/{session.id}/notes", data=data).status_code == 302
    assert shared_of(session.id) is None
    assert clinical_of(session.id).body == "FIRST-CLINICAL"


def test_ticking_an_agenda_item_keeps_the_notes_she_typed(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    item = session_services.add_agenda_item(maria, "AGENDA-WEDDING")
    login(client, ruth)
    page = _page(client, session.id)
    assert f'name="agenda_done" value="{item.id}"' in page
    assert f'action="/agenda/{item.id}/done"' not in page  # no separate form that navigates away
    data = {**_form_of(page), "body": "TYPED-BEFORE-TICKING", "agenda_done": str(item.id)}
    assert client.post(f"/sessions/{session.id}/notes", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(AgendaItem, item.id).done_at is not None
    assert shared_of(session.id).body == "TYPED-BEFORE-TICKING"


def test_someone_elses_agenda_item_is_not_ticked_through_the_page(people, client):
    ruth, sam, priya = people["therapist"], people["other_therapist"], people["other_client"]
    session = record(ruth, people["client"])
    theirs = session_services.add_agenda_item(priya, "NOT-RUTHS")
    login(client, ruth)
    data = {**_form_of(_page(client, session.id)), "agenda_done": [str(theirs.id), "abc", "99999999999"]}
    assert client.post(f"/sessions/{session.id}/notes", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(AgendaItem, theirs.id).done_at is None
    assert sam is not None


def test_a_conflict_on_one_note_still_saves_the_other(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    login(client, ruth)
    page = _page(client, session.id)
    shared_note(ruth, session, "SAVED-ELSEWHERE")  # another tab saves the shared note meanwhile
    data = {**_form_of(page), "body": "MINE-STALE", "clinical-body": "CLINICAL-FRESH"}
    response = client.post(f"/sessions/{session.id}/notes", data=data)
    assert response.status_code == 409
    body = text_of(response)
    assert "SAVED-ELSEWHERE" in body and "MINE-STALE" in body  # both texts, to merge
    assert "Everything else you changed is saved." in body
    assert shared_of(session.id).body == "SAVED-ELSEWHERE"  # nothing overwritten
    assert clinical_of(session.id).body == "CLINICAL-FRESH"


def test_a_refused_save_gives_back_everything_she_typed(people, client):
    from app.therapy_sessions.forms import NOTE_MAX

    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    clinical_note(ruth, session, "CLINICAL-STORED")
    login(client, ruth)
    data = {**_form_of(_page(client, session.id)), "body": "x" * (NOTE_MAX + 1),
            "clinical-body": "CLINICAL-TYPED-TOO"}
    response = client.post(f"/sessions/{session.id}/notes", data=data)
    assert response.status_code == 400
    body = text_of(response)
    assert "Please keep it under" in body and "CLINICAL-TYPED-TOO" in body
    assert shared_of(session.id) is None
    assert clinical_of(session.id).body == "CLINICAL-STORED"  # nothing half-saved


def test_the_boxes_say_who_reads_them(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    login(client, ruth)
    page = _page(client, session.id)
    labels = dict((target, re.sub(r"\s+", " ", text).strip()) for target, text in
                  re.findall(r'<label for="([^"]+)">(.*?)</label>', page, re.S))
    assert labels["body"] == f"Shared notes — {maria.name} reads this"
    assert labels["clinical-body"] == "Private clinical note — only you"
    assert "Note" not in labels.values()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_a_refused_comment_comes_back_with_her_text(people, client):
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    login(client, maria)
    long = "MY-COMMENT " * 3000
    response = client.post(f"/sessions/{session.id}/comments", data={"body": long})
    assert response.status_code == 400
    assert "MY-COMMENT MY-COMMENT" in text_of(response)
    assert db.session.scalar(sa.text("SELECT count(*) FROM session_comments")) == 0
