"""Session notes that save themselves (issue 18, part 2): the autosave keeps a draft that only its
author reads; the page says so and puts it back; Save makes it a version of the note and drops
the draft; a note saved meanwhile is a conflict, never an overwrite; the endpoint refuses what
it cannot keep without losing anything; closing an account removes her drafts."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, NoteDraft
from app.therapy_sessions import services as session_services
from tests.builders_sessions import (
    clinical_of,
    hidden_value,
    linked_pair,
    member_note,
    record,
    shared_note,
    shared_of,
    text_of,
)
from tests.conftest import csrf_token_from, login


def autosave(browser, session_id, kind="shared", body="", base=0, seen="", sections=None, extra=None, **headers):
    payload = {"kind": kind, "body": body, "base_version": str(base), "draft_version": seen, **(extra or {})}
    if sections is not None:
        payload.update(labels=[label for label, _ in sections], sections=[text for _, text in sections])
    return browser.post(f"/sessions/{session_id}/note-draft", json=payload, headers=headers)


def drafts(author_id=None) -> list[NoteDraft]:
    db.session.expire_all()
    query = sa.select(NoteDraft).order_by(NoteDraft.id)
    if author_id is not None:
        query = query.where(NoteDraft.author_id == author_id)
    return list(db.session.scalars(query))


def audit_rows() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


@pytest.fixture
def ruth_with_maria(people, client):
    """Ruth signed in (this test's client), a session with Maria, and Maria's own browser."""
    ruth, maria = people["therapist"], people["client"]
    session = record(ruth, maria)
    login(client, ruth)
    return dict(people, ruth=client, session=session)


def test_a_draft_is_kept_read_only_by_its_author_and_put_back(ruth_with_maria, app):
    w = ruth_with_maria
    session, maria = w["session"], w["client"]
    before = audit_rows()
    response = autosave(w["ruth"], session.id, body="HALF-WRITTEN-SUMMARY")
    assert response.status_code == 200 and response.get_json()["draft"] is True
    assert "not yet shared" in response.get_json()["message"]
    assert audit_rows() == before, "keeping a draft is nobody's reading and no change to a record"
    assert shared_of(session.id) is None, "a draft is not the note"
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))
    assert "HALF-WRITTEN-SUMMARY</textarea>" in page and "Saved as a draft at" in page
    assert hidden_value(page, "draft_version") == drafts()[0].updated_at.isoformat()
    prep = text_of(w["ruth"].get(f"/clients/{maria.id}/prep"))  # a reminder of what is not shared
    assert "Notes you began and have not saved" in prep and f'href="/sessions/{session.id}"' in prep
    # Not the client's: not her page, not her export, not her therapist's export either.
    mine = app.test_client()
    login(mine, maria)
    for url in (f"/sessions/{session.id}", "/sessions", "/export", "/export.json"):
        assert "HALF-WRITTEN" not in text_of(mine.get(url)), url
    for url in (f"/clients/{maria.id}/export.json?private_notes=1", f"/clients/{maria.id}/export?private_notes=1"):
        assert "HALF-WRITTEN" not in text_of(w["ruth"].get(url)), url


def test_save_makes_the_draft_a_version_and_drops_it(ruth_with_maria, app):
    w = ruth_with_maria
    session = w["session"]
    shared_note(session.therapist, session, "FIRST VERSION")
    seen = autosave(w["ruth"], session.id, body="SECOND, TYPED", base=1).get_json()["version"]
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))
    form = {"body": "SECOND, TYPED", "version": hidden_value(page, "version"), "draft_version": seen,
            "clinical-body": "", "clinical-version": "0"}
    assert w["ruth"].post(f"/sessions/{session.id}/notes", data=form).status_code == 302
    note = shared_of(session.id)
    assert (note.version, note.body) == (2, "SECOND, TYPED")
    assert drafts() == []
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))
    assert "Saved as a draft" not in page and "Version 2, saved" in page
    # A late autosave from that page (sent before the Save, answered after) keeps nothing.
    late = autosave(w["ruth"], session.id, body="SECOND, TYPE", base=1, seen=seen)
    assert late.status_code == 409 and drafts() == []


def test_a_note_saved_meanwhile_is_a_conflict_and_her_draft_is_kept(ruth_with_maria):
    w = ruth_with_maria
    session = w["session"]
    shared_note(session.therapist, session, "V1")
    seen = autosave(w["ruth"], session.id, body="MY DRAFT WORDS", base=1).get_json()["version"]
    session_services.save_shared_note(session.therapist, session, "SAVED ELSEWHERE", 1)  # version 2
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))
    assert "MY DRAFT WORDS</textarea>" in page and hidden_value(page, "version") == "1"
    assert "began from an earlier version of the note" in page
    # Typing on in that draft still keeps it (marked stale); a text begun from another version does not.
    more = autosave(w["ruth"], session.id, body="MY DRAFT WORDS, MORE", base=1, seen=seen)
    assert more.status_code == 200 and more.get_json()["stale"] is True
    refused = autosave(w["ruth"], session.id, body="OTHER", base=0, seen=more.get_json()["version"])
    assert refused.status_code == 409 and "saved again since you began" in refused.get_json()["message"]
    form = {"body": "MY DRAFT WORDS, MORE", "version": "1", "draft_version": more.get_json()["version"],
            "clinical-body": "", "clinical-version": "0"}
    conflict = w["ruth"].post(f"/sessions/{session.id}/notes", data=form)
    assert conflict.status_code == 409
    assert "SAVED ELSEWHERE" in text_of(conflict) and "MY DRAFT WORDS, MORE" in text_of(conflict)
    assert shared_of(session.id).body == "SAVED ELSEWHERE", "never overwritten"
    assert [d.body for d in drafts()] == ["MY DRAFT WORDS, MORE"], "her words are kept"
    merged = w["ruth"].post(f"/sessions/{session.id}/shared-note", data={
        "body": "MERGED", "version": hidden_value(text_of(conflict), "version"),
        "draft_version": hidden_value(text_of(conflict), "draft_version")})
    assert merged.status_code == 302 and shared_of(session.id).body == "MERGED" and drafts() == []


def test_without_javascript_a_save_that_meets_a_conflict_keeps_her_text_as_her_draft(ruth_with_maria):
    w = ruth_with_maria
    session = w["session"]
    shared_note(session.therapist, session, "V1", "V2 SAVED ELSEWHERE")
    form = {"body": "TYPED ON V1", "version": "1", "draft_version": "", "clinical-body": "",
            "clinical-version": "0"}
    conflict = w["ruth"].post(f"/sessions/{session.id}/notes", data=form)
    assert conflict.status_code == 409
    (draft,) = drafts()
    assert (draft.body, draft.base_version) == ("TYPED ON V1", 1)
    assert hidden_value(text_of(conflict), "draft_version") == draft.updated_at.isoformat()
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))  # she left the conflict page
    assert "TYPED ON V1</textarea>" in page and "began from an earlier version of the note" in page


def test_a_conflict_and_its_merge_never_drop_a_draft_typed_in_another_tab(ruth_with_maria):
    """Tab B keeps a draft; the note is saved elsewhere; tab A (opened before B's draft) saves,
    meets the conflict and merges: B's words, never shown on A's conflict page, are still kept."""
    w = ruth_with_maria
    session = w["session"]
    shared_note(session.therapist, session, "V1")
    assert autosave(w["ruth"], session.id, body="TAB B WORDS", base=1).status_code == 200
    session_services.save_shared_note(session.therapist, session, "V2 SAVED ELSEWHERE", 1)  # tab C
    form = {"body": "TAB A ON V1", "version": "1", "draft_version": "", "clinical-body": "",
            "clinical-version": "0"}
    conflict = w["ruth"].post(f"/sessions/{session.id}/notes", data=form)
    assert conflict.status_code == 409
    assert hidden_value(text_of(conflict), "draft_version") == ""  # B's draft is not this page's
    assert "Your draft stays kept" not in text_of(conflict)
    merged = dict(form, body="TAB A MERGED WITH V2", version="2")
    assert w["ruth"].post(f"/sessions/{session.id}/notes", data=merged).status_code == 302
    assert shared_of(session.id).body == "TAB A MERGED WITH V2"
    assert [d.body for d in drafts()] == ["TAB B WORDS"]


def test_the_same_autosave_twice_is_one_draft_and_another_tab_is_not_overwritten(ruth_with_maria):
    w = ruth_with_maria
    session = w["session"]
    first = autosave(w["ruth"], session.id, body="TAB ONE")
    again = autosave(w["ruth"], session.id, body="TAB ONE")  # its answer was lost: sent again
    assert again.status_code == 200 and again.get_json()["version"] == first.get_json()["version"]
    other_tab = autosave(w["ruth"], session.id, body="TAB TWO", seen="")
    assert other_tab.status_code == 409 and other_tab.get_json()["conflict"] == "draft"
    assert "another tab" in other_tab.get_json()["message"]
    assert [d.body for d in drafts()] == ["TAB ONE"]
    # Emptying the box, or typing back the saved text, leaves nothing to keep.
    cleared = autosave(w["ruth"], session.id, body="  ", seen=first.get_json()["version"])
    assert cleared.status_code == 200 and cleared.get_json()["draft"] is False and drafts() == []


def test_the_autosave_refuses_what_it_cannot_keep(ruth_with_maria, app):
    w = ruth_with_maria
    session, ruth = w["session"], w["ruth"]
    too_long = autosave(ruth, session.id, body="x" * 20_001)
    assert too_long.status_code == 400 and "20,001 characters" in too_long.get_json()["message"]
    assert "still here" in too_long.get_json()["message"]
    for bad in ({"kind": "shared"}, {"kind": "nope", "base_version": "0"}, ["shared", "0"],
                {"kind": "shared", "body": "", "base_version": "²"},
                {"kind": "shared", "body": "", "base_version": "1" * 10},
                {"kind": "shared", "labels": ["A"], "sections": ["b"], "base_version": "0"},
                {"kind": "clinical", "labels": ["A", "B"], "sections": ["b"], "base_version": "0"},
                {"kind": "clinical", "labels": [" "], "sections": ["b"], "base_version": "0"},
                {"kind": "shared", "body": "", "base_version": "0", "note_id": "3"},
                {"kind": "member", "body": "", "base_version": "0", "note_id": 3},
                {"kind": "member", "body": "", "base_version": "0", "visibility": "everyone"}):
        response = ruth.post(f"/sessions/{session.id}/note-draft", json=bad)
        answer = response.get_json()
        assert response.status_code == 400 and (answer.get("message") or answer.get("error")), bad
    assert ruth.post(f"/sessions/{session.id}/note-draft", data="{not json",
                     content_type="application/json").status_code == 400
    assert autosave(ruth, 99_999_999, body="x").status_code == 404
    sams = record(w["other_therapist"], w["other_client"])
    assert autosave(ruth, sams.id, body="x").status_code == 404
    maria = app.test_client()
    login(maria, w["client"])
    assert autosave(maria, session.id, body="x").status_code == 403  # no note of hers here
    assert autosave(maria, session.id, kind="member", body="x").status_code == 403
    assert drafts() == []


def test_the_autosave_needs_the_csrf_token(people, csrf_app):
    ruth = csrf_app.test_client()
    session = record(people["therapist"], people["client"])
    login(ruth, people["therapist"])
    token = csrf_token_from(text_of(ruth.get(f"/sessions/{session.id}")))
    assert autosave(ruth, session.id, body="NO TOKEN").status_code == 400
    assert drafts() == []
    assert autosave(ruth, session.id, body="WITH TOKEN", **{"X-CSRFToken": token}).status_code == 200
    assert [d.body for d in drafts()] == ["WITH TOKEN"]


def test_a_sectioned_clinical_draft_comes_back_on_its_template(ruth_with_maria):
    w = ruth_with_maria
    session = w["session"]
    soap = [["Subjective", "SUBJ-WORDS"], ["Objective", ""], ["Assessment", "ASSESS"], ["Plan", ""]]
    saved = autosave(w["ruth"], session.id, kind="clinical", sections=soap)
    assert saved.status_code == 200
    (draft,) = drafts()
    assert draft.sections == soap and draft.body == "Subjective\nSUBJ-WORDS\n\nAssessment\nASSESS"
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))
    assert 'name="clinical-template_name" value="SOAP"' in page
    assert 'id="clinical-sections-0"' in page and "SUBJ-WORDS</textarea>" in page
    assert 'value="soap" selected' in page
    assert clinical_of(session.id) is None


def test_a_members_draft_is_hers_alone_and_settles_when_she_adds_it(people, app):
    ruth, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    pair_session = record(ruth, linked_pair(ruth, maria, elena))
    browsers = {}
    for name, user in (("maria", maria), ("elena", elena), ("ruth", ruth)):
        browsers[name] = app.test_client()
        login(browsers[name], user)
    seen = autosave(browsers["maria"], pair_session.id, kind="member", body="MARIAS-DRAFT").get_json()["version"]
    assert autosave(browsers["ruth"], pair_session.id, kind="member", body="x").status_code == 403
    assert "MARIAS-DRAFT</textarea>" in text_of(browsers["maria"].get(f"/sessions/{pair_session.id}"))
    for other in ("elena", "ruth"):
        assert "MARIAS-DRAFT" not in text_of(browsers[other].get(f"/sessions/{pair_session.id}")), other
    added = browsers["maria"].post(f"/sessions/{pair_session.id}/member-notes", data={
        "body": "MARIAS-DRAFT, FINISHED", "visibility": "therapist", "version": "0", "draft_version": seen})
    assert added.status_code == 302 and drafts() == []


def test_closing_her_account_removes_her_drafts(people, app):
    ruth, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    pair_session = record(ruth, linked_pair(ruth, maria, elena))
    mine = app.test_client()
    login(mine, maria)
    assert autosave(mine, pair_session.id, kind="member", body="UNSENT").status_code == 200
    therapist = app.test_client()
    login(therapist, ruth)
    assert autosave(therapist, pair_session.id, body="RUTHS").status_code == 200
    assert therapist.post(f"/clients/{maria.id}/close").status_code == 302
    assert [d.author_id for d in drafts()] == [ruth.id], "hers are gone; her therapist's stay"


def box(page: str, name: str) -> str:
    """The text in the textarea named `name` (its own box, not any other)."""
    match = re.search(r'<textarea[^>]*\bname="%s"[^>]*>(.*?)</textarea>' % re.escape(name), page, re.DOTALL)
    assert match, f"no box {name}"
    return match.group(1).strip()


def chosen(page: str, name: str) -> str:
    """The value of the checked radio button named `name`."""
    radios = re.findall(r'<input[^>]*\bname="%s"[^>]*>' % re.escape(name), page)
    (checked,) = [r for r in radios if re.search(r"\bchecked\b", r)]
    return re.search(r'\bvalue="([^"]*)"', checked).group(1)


@pytest.fixture
def pair_world(people, app):
    """Maria's note on a session with Elena, and a browser each for Maria, Elena and Ruth."""
    ruth, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    session = record(ruth, linked_pair(ruth, maria, elena))
    note = member_note(maria, session, "MARIAS SAVED NOTE", "therapist")
    browsers = {}
    for name, user in (("maria", maria), ("elena", elena), ("ruth", ruth)):
        browsers[name] = app.test_client()
        login(browsers[name], user)
    return dict(people, session=session, note=note, **browsers)


def test_a_members_edit_keeps_its_own_draft_for_her_alone_and_her_save_settles_it(pair_world):
    w = pair_world
    session, note, maria = w["session"], w["note"], w["maria"]
    edit = {"note_id": str(note.id), "visibility": "pair"}
    seen = autosave(maria, session.id, kind="member", body="EDIT-DRAFT", base=1, extra=edit)
    assert seen.status_code == 200 and "not yet saved to your note" in seen.get_json()["message"]
    autosave(maria, session.id, kind="member", body="NEW-DRAFT", extra={"visibility": "pair"})
    assert sorted((d.note_id, d.body, d.visibility) for d in drafts()) == [
        (0, "NEW-DRAFT", "pair"), (note.id, "EDIT-DRAFT", "pair")]
    page = text_of(maria.get(f"/sessions/{session.id}"))
    prefix = f"note{note.id}-"
    assert box(page, prefix + "body") == "EDIT-DRAFT" and box(page, "body") == "NEW-DRAFT"
    assert chosen(page, prefix + "visibility") == "pair" and chosen(page, "visibility") == "pair"
    assert hidden_value(page, prefix + "draft_version") == seen.get_json()["version"]
    # Not Elena's (she may not even edit it), not Ruth's: no page, no export, no autosave.
    assert autosave(w["elena"], session.id, kind="member", body="x", base=1, extra=edit).status_code == 404
    assert autosave(w["ruth"], session.id, kind="member", body="x", base=1, extra=edit).status_code == 403
    for who, urls in (("elena", [f"/sessions/{session.id}", "/sessions", "/export", "/export.json"]),
                      ("ruth", [f"/sessions/{session.id}", f"/clients/{w['client'].id}/export.json?private_notes=1",
                                f"/clients/{w['client'].id}/export?private_notes=1"])):
        for url in urls:
            assert "EDIT-DRAFT" not in text_of(w[who].get(url)), (who, url)
    other = record(w["therapist"], session.pair)  # the same pair's next session: not that note's
    assert autosave(maria, other.id, kind="member", body="x", base=1, extra=edit).status_code == 404
    saved = maria.post(f"/session-notes/{note.id}", data={
        prefix + "body": "EDIT-DRAFT, DONE", prefix + "visibility": "pair", prefix + "version": "1",
        prefix + "draft_version": seen.get_json()["version"]})
    assert saved.status_code == 302
    assert [(d.note_id, d.body) for d in drafts()] == [(0, "NEW-DRAFT")], "only that edit's draft settles"
    assert "EDIT-DRAFT, DONE" in text_of(w["elena"].get(f"/sessions/{session.id}"))


def test_a_members_edit_of_a_note_changed_since_is_a_conflict_and_her_words_stay_her_draft(pair_world):
    w = pair_world
    session, maria = w["session"], w["maria"]
    edit = {"note_id": str(w["note"].id), "visibility": "therapist"}
    seen = autosave(maria, session.id, kind="member", body="TYPED ON V1", base=1, extra=edit).get_json()["version"]
    session_services.edit_member_note(w["client"], w["note"], "SAVED ELSEWHERE", "therapist", 1)  # another device
    page = text_of(maria.get(f"/sessions/{session.id}"))
    prefix = f"note{w['note'].id}-"
    assert box(page, prefix + "body") == "TYPED ON V1" and hidden_value(page, prefix + "version") == "1"
    assert "began from an earlier version of the note" in page
    assert autosave(maria, session.id, kind="member", body="OTHER", base=0, seen=seen, extra=edit).status_code == 409
    conflict = maria.post(f"/session-notes/{w['note'].id}", data={
        prefix + "body": "TYPED ON V1, MORE", prefix + "visibility": "pair", prefix + "version": "1",
        prefix + "draft_version": seen})
    assert conflict.status_code == 409 and "SAVED ELSEWHERE" in text_of(conflict)
    assert [(d.body, d.visibility, d.base_version) for d in drafts()] == [("TYPED ON V1, MORE", "pair", 1)]
    assert "TYPED ON V1" not in text_of(w["elena"].get(f"/sessions/{session.id}"))


def test_a_clinical_draft_comes_back_on_the_template_it_was_written_on(ruth_with_maria):
    w = ruth_with_maria
    session = w["session"]
    sections = [["Opening", "OPENING-WORDS"], ["Closing", ""]]  # no template has these labels
    assert autosave(w["ruth"], session.id, kind="clinical", sections=sections,
                    extra={"template_name": "Ruth's old template"}).status_code == 200
    assert drafts()[0].template_name == "Ruth's old template"
    page = text_of(w["ruth"].get(f"/sessions/{session.id}"))
    assert hidden_value(page, "clinical-template_name") == "Ruth's old template"
    assert "Ruth&#39;s old template (as this note was written)" in page and "OPENING-WORDS</textarea>" in page
