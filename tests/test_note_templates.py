"""Clinical note templates (issue 18, part 3): SOAP, DAP and BIRP built in, a therapist's own
(made, changed, archived on a page of their own; what cannot be used is refused with a sentence
and nothing stored); a clinical note written on one keeps its template, its sections and the
same words as one readable whole, through its versions; switching template loses no word."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ClinicalNoteRevision, NoteTemplate
from app.therapy_sessions.note_templates import switched
from tests.builders_sessions import clinical_of, hidden_value, record, text_of
from tests.conftest import login, make_therapist


def templates() -> list[tuple[str, list, bool]]:
    db.session.expire_all()
    return [(t.name, t.sections, t.archived_at is not None)
            for t in db.session.scalars(sa.select(NoteTemplate).order_by(NoteTemplate.id))]


@pytest.fixture
def ruth(people, client):
    login(client, people["therapist"])
    return client


def test_she_makes_changes_archives_and_restores_her_own_template(ruth, people, app):
    made = ruth.post("/note-templates", data={"name": "Family session",
                                              "sections": "Presenting concern\n\n  Between them \nPlan\n"})
    assert made.status_code == 302
    assert templates() == [("Family session", ["Presenting concern", "Between them", "Plan"], False)]
    (template_id,) = [t.id for t in db.session.scalars(sa.select(NoteTemplate))]
    page = text_of(ruth.get("/note-templates"))
    assert "Family session" in page and "Subjective" in page  # hers, and the built-in ones
    edited = ruth.post(f"/note-templates/{template_id}", data={
        f"t{template_id}-name": "Family", f"t{template_id}-sections": "Concern\nPlan"})
    assert edited.status_code == 302 and templates() == [("Family", ["Concern", "Plan"], False)]
    assert ruth.post(f"/note-templates/{template_id}/archive").status_code == 302
    assert templates()[0][2] is True
    session = record(people["therapist"], people["client"])
    assert f'value="own-{template_id}"' not in text_of(ruth.get(f"/sessions/{session.id}"))
    assert ruth.post(f"/note-templates/{template_id}/restore").status_code == 302
    assert templates()[0][2] is False
    assert f'value="own-{template_id}"' in text_of(ruth.get(f"/sessions/{session.id}"))
    # Hers alone: another therapist finds nothing; a client is refused.
    sam = app.test_client()
    login(sam, people["other_therapist"])
    assert sam.post(f"/note-templates/{template_id}/archive").status_code == 404
    assert sam.post(f"/note-templates/{template_id}", data={}).status_code == 404
    assert f"template-{template_id}" not in text_of(sam.get("/note-templates"))
    maria = app.test_client()
    login(maria, people["client"])
    assert maria.get("/note-templates").status_code == 403
    assert maria.post("/note-templates", data={"name": "x", "sections": "y"}).status_code == 403


@pytest.mark.parametrize("name,sections,message", [
    ("Mine", "", "Add at least one section"),
    ("Mine", "\n  \n", "Add at least one section"),
    ("Mine", "Plan\nGoals\nplan", "“plan” is there twice"),
    ("Mine", "x" * 61, "too long for a section name"),
    ("Mine", "\n".join(f"S{i}" for i in range(13)), "at most 12 sections"),
    ("", "Plan", "Give the template a name."),
    ("n" * 81, "Plan", "under 80 characters"),
    ("soap", "Plan", "SOAP is built in already"),
])
def test_a_template_that_cannot_be_used_is_refused_with_a_sentence(ruth, name, sections, message):
    response = ruth.post("/note-templates", data={"name": name, "sections": sections})
    assert response.status_code == 400
    assert message in text_of(response).replace("&#34;", '"').replace("&#39;", "'")
    assert templates() == []


def test_a_second_template_of_the_same_name_is_refused(ruth, people):
    db.session.add(NoteTemplate(therapist_id=people["therapist"].id, name="Risk review", sections=["Risk"]))
    db.session.add(NoteTemplate(therapist_id=make_therapist("Other").id, name="Mine", sections=["A"]))
    db.session.commit()
    response = ruth.post("/note-templates", data={"name": "risk  review", "sections": "Plan"})
    assert response.status_code == 400 and "You already have a template called “Risk review”" in text_of(response)
    assert ruth.post("/note-templates", data={"name": "Mine", "sections": "A"}).status_code == 302


def _soap_form(page, texts, version="0"):
    form = {"body": "", "version": hidden_value(page, "version"), "clinical-version": version,
            "clinical-template_name": "SOAP"}
    for i, (label, text) in enumerate(zip(["Subjective", "Objective", "Assessment", "Plan"], texts, strict=True)):
        form.update({f"clinical-labels-{i}": label, f"clinical-sections-{i}": text})
    return form


def test_a_clinical_note_on_soap_keeps_its_sections_and_reads_as_one_text(ruth, people):
    session = record(people["therapist"], people["client"])
    page = text_of(ruth.get(f"/sessions/{session.id}"))
    first = ruth.post(f"/sessions/{session.id}/notes", data=_soap_form(page, ["Low week.", "", "Tired.", "Walk."]))
    assert first.status_code == 302
    note = clinical_of(session.id)
    assert note.template_name == "SOAP"
    assert note.sections == [["Subjective", "Low week."], ["Objective", ""], ["Assessment", "Tired."],
                             ["Plan", "Walk."]]
    assert note.body == "Subjective\nLow week.\n\nAssessment\nTired.\n\nPlan\nWalk."
    page = text_of(ruth.get(f"/sessions/{session.id}"))
    assert 'value="soap" selected' in page and "Low week.</textarea>" in page
    second = ruth.post(f"/sessions/{session.id}/notes",
                       data=_soap_form(page, ["Low week.", "Calm.", "Tired.", "Walk."], version="1"))
    assert second.status_code == 302 and clinical_of(session.id).version == 2
    (revision,) = db.session.scalars(sa.select(ClinicalNoteRevision)).all()
    assert (revision.version, revision.template_name, revision.sections[1]) == (1, "SOAP", ["Objective", ""])
    # An empty note on a template is refused like an empty free-text one.
    empty = ruth.post(f"/sessions/{session.id}/notes", data=_soap_form(page, ["", " ", "", ""], version="2"))
    assert empty.status_code == 400 and "The note is empty" in text_of(empty)
    assert clinical_of(session.id).version == 2


def test_without_javascript_switching_template_keeps_every_word_and_saves_nothing(ruth, people):
    session = record(people["therapist"], people["client"])
    page = text_of(ruth.get(f"/sessions/{session.id}"))
    response = ruth.post(f"/sessions/{session.id}/notes", data={
        "body": "SHARED TYPED", "version": hidden_value(page, "version"), "clinical-version": "0",
        "clinical-template_name": "", "clinical-body": "FREE WORDS", "clinical-template": "dap",
        "action": "switch_template"})
    assert response.status_code == 200
    page = text_of(response)
    assert 'name="clinical-template_name" value="DAP"' in page
    assert 'id="clinical-sections-0"' in page and "FREE WORDS</textarea>" in page
    assert "SHARED TYPED</textarea>" in page and "nothing is saved yet" in page
    assert clinical_of(session.id) is None


def test_switching_moves_words_and_never_drops_one():
    soap = [["Subjective", "she said"], ["Objective", ""], ["Assessment", "better"], ["Plan", "walk"]]
    body, sections = switched("", soap, ["Data", "Assessment", "Plan"])
    assert sections == [["Data", "Subjective\nshe said"], ["Assessment", "better"], ["Plan", "walk"]]
    assert switched("", soap, []) == ("Subjective\nshe said\n\nAssessment\nbetter\n\nPlan\nwalk", [])
    assert switched("free words", None, ["A", "B"]) == ("", [["A", "free words"], ["B", ""]])
    assert switched("", None, ["A"]) == ("", [["A", ""]])


def test_a_note_on_a_template_archived_since_keeps_its_sections(ruth, people):
    from app.therapy_sessions import services as session_services
    ruth_user = people["therapist"]
    template = NoteTemplate(therapist_id=ruth_user.id, name="Risk review", sections=["Risk", "Plan"])
    db.session.add(template)
    db.session.commit()
    session = record(ruth_user, people["client"])
    session_services.save_clinical_note(ruth_user, session, "Risk\nLow.", 0, "Risk review",
                                        [["Risk", "Low."], ["Plan", ""]])
    assert ruth.post(f"/note-templates/{template.id}/archive").status_code == 302
    page = text_of(ruth.get(f"/sessions/{session.id}"))
    assert '<option value="kept" selected>Risk review (as this note was written)</option>' in page
    assert "Low.</textarea>" in page and f'value="own-{template.id}"' not in page
