"""The therapist's review: the queue, the reading view, feedback, private annotations."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Feedback, PrivateAnnotation
from tests.builders_homework import (
    assign,
    built_in,
    days_ago,
    make_exercise,
    refresh,
    save_draft,
    submit,
)
from tests.conftest import login

SENTINEL = "PRIVATE-ANNOTATION-SENTINEL-7f3a9c"


def queue_links(page: str) -> list[int]:
    """Reflection ids in the order the queue lists them."""
    return [int(i) for i in re.findall(r'<li>\s*<div>.*?href="/reflections/(\d+)"', page, re.DOTALL)]


@pytest.fixture
def sent(people):
    """Maria's sent reflection on a built-in exercise."""
    task = assign(people["therapist"], people["client"], built_in("stay_present"), due=0,
                  note="Just one moment is enough.")
    return submit(people["client"], task, ["We laughed at the market.", "", "Breathing."],
                  {"resentment": 2, "closeness": 8, "stayed_present": "yes"})


# --- the queue -------------------------------------------------------------------------------

def test_the_queue_lists_urgent_first_then_the_longest_waiting(client, people):
    therapist, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    oldest = submit(maria, assign(therapist, maria, title="Oldest"), submitted_at=days_ago(5))
    newest = submit(elena, assign(therapist, elena, title="Newest"), submitted_at=days_ago(1))
    middle = submit(maria, assign(therapist, maria, title="Middle"), submitted_at=days_ago(3))
    urgent_new = submit(elena, assign(therapist, elena, title="Urgent new"), urgent=True,
                        submitted_at=days_ago(0.5))
    urgent_old = submit(maria, assign(therapist, maria, title="Urgent old"), urgent=True,
                        submitted_at=days_ago(2))
    # Not in her queue: reviewed, a draft, an open task, another therapist's client.
    done = submit(maria, assign(therapist, maria, title="Reviewed already"), submitted_at=days_ago(9))
    done.reviewed_at = days_ago(8)
    db.session.commit()
    save_draft(maria, assign(therapist, maria, title="Still a draft"))
    assign(therapist, maria, title="Not started")
    other = people["other_client"]
    submit(other, assign(people["other_therapist"], other, title="Priyas task"))

    login(client, therapist)
    response = client.get("/review")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert queue_links(page) == [urgent_old.id, urgent_new.id, oldest.id, middle.id, newest.id]
    assert "5 waiting" in page and "2 urgent" in page
    for hidden in ("Reviewed already", "Still a draft", "Not started", "Priyas task"):
        assert hidden not in page
    assert maria.name in page and elena.name in page

    caseload = client.get("/caseload").get_data(as_text=True)
    assert "<strong>5</strong> reflections waiting" in caseload
    assert "2 urgent" in caseload


def test_an_empty_queue_says_so(client, people):
    login(client, people["therapist"])
    assert "Nothing to review." in client.get("/review").get_data(as_text=True)
    assert "Nothing waiting for review." in client.get("/caseload").get_data(as_text=True)


def test_the_queue_pages_after_twenty(client, people):
    therapist, maria = people["therapist"], people["client"]
    sent = [submit(maria, assign(therapist, maria), submitted_at=days_ago(30 - i)) for i in range(23)]
    login(client, therapist)
    first = queue_links(client.get("/review").get_data(as_text=True))
    second = queue_links(client.get("/review?page=2").get_data(as_text=True))
    assert first == [r.id for r in sent[:20]]
    assert second == [r.id for r in sent[20:]]


def test_clients_have_no_review_queue(client, people, sent):
    login(client, people["client"])
    assert client.get("/review").status_code == 403


# --- reading ---------------------------------------------------------------------------------

def test_the_reading_view_shows_the_task_answers_ratings_and_earlier_reflections(client, people, sent):
    therapist, maria = people["therapist"], people["client"]
    exercise = built_in("stay_present")
    earlier = submit(maria, assign(therapist, maria, exercise), ["An earlier quiet dinner."],
                     {"resentment": 9, "closeness": 1, "stayed_present": "no"},
                     submitted_at=days_ago(14))
    sent.submitted_at = days_ago(1)
    db.session.commit()
    # Not "earlier": another exercise, another client on the same exercise.
    submit(maria, assign(therapist, maria, built_in("safety")), ["Other exercise words"],
           submitted_at=days_ago(20))
    elena = people["other_client_same_therapist"]
    submit(elena, assign(therapist, elena, exercise), ["Elenas words"], submitted_at=days_ago(20))

    login(client, therapist)
    response = client.get(f"/reflections/{sent.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Catch a good moment" in page
    for prompt in exercise.prompts:
        assert prompt in page
    assert "We laughed at the market." in page and "Breathing." in page
    assert "Just one moment is enough." in page
    assert "2 / 10" in page and "8 / 10" in page and "<dd>yes</dd>" in page
    earlier_section = page[page.index('id="earlier-heading"'):]
    assert "An earlier quiet dinner." in earlier_section
    assert "resentment 9, closeness 1, present no" in earlier_section
    assert f"/reflections/{earlier.id}" in earlier_section
    assert "Other exercise words" not in page and "Elenas words" not in page


def test_earlier_reflections_on_her_own_exercise_survive_its_edits(client, people):
    therapist, maria = people["therapist"], people["client"]
    exercise = make_exercise(therapist, title="My exercise")
    earlier = submit(maria, assign(therapist, maria, exercise), ["Round one"], submitted_at=days_ago(7))
    exercise.version += 1
    db.session.commit()
    latest = submit(maria, assign(therapist, maria, exercise), ["Round two"])
    login(client, therapist)
    page = client.get(f"/reflections/{latest.id}").get_data(as_text=True)
    assert "Round one" in page
    # And the older one does not list the newer as "earlier".
    page = client.get(f"/reflections/{earlier.id}").get_data(as_text=True)
    assert "Round two" not in page
    assert f"This is {latest.author.name.split()[0]}’s first reflection on this exercise." in page


def test_reading_a_reflection_is_recorded_in_the_audit_trail(client, people, sent):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    client.get(f"/reflections/{sent.id}")
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "read_reflection"))
    assert event.actor_id == therapist.id and event.subject_id == maria.id
    assert (event.object_type, event.object_id) == ("Reflection", sent.id)
    # The author reading her own work is not an access by someone else.
    client.post("/logout")
    login(client, maria)
    client.get(f"/tasks/{sent.assignment_id}")
    client.get(f"/reflections/{sent.id}")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "read_reflection")) == 1


def test_the_author_opening_the_reading_url_goes_to_her_task(client, people, sent):
    login(client, people["client"])
    response = client.get(f"/reflections/{sent.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tasks/{sent.assignment_id}")


def test_drafts_are_not_visible_to_the_therapist(client, people):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria)
    draft = save_draft(maria, task, ["DRAFT-ONLY-WORDS"])
    login(client, therapist)
    assert client.get(f"/reflections/{draft.id}").status_code == 404
    assert client.post(f"/reflections/{draft.id}/feedback", data={"body": "x"}).status_code == 404
    assert client.post(f"/reflections/{draft.id}/annotations", data={"body": "x"}).status_code == 404
    assert client.post(f"/reflections/{draft.id}/reviewed").status_code == 404
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    # not even that a draft exists: drafts are their author's alone, counts included
    assert "started writing" not in page and "DRAFT-ONLY-WORDS" not in page
    assert "not sent yet" in page
    assert "DRAFT-ONLY-WORDS" not in client.get(f"/clients/{maria.id}").get_data(as_text=True)
    assert "DRAFT-ONLY-WORDS" not in client.get("/review").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 0


# --- feedback, annotations, reviewed -----------------------------------------------------------

def test_feedback_reaches_the_client_with_a_new_feedback_marker(client, people, sent):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    response = client.post(f"/reflections/{sent.id}/feedback",
                           data={"body": "Thank you.\n\nThat <em>matters</em>.", "mark_reviewed": "y"})
    assert response.status_code == 302
    [feedback] = db.session.scalars(sa.select(Feedback))
    assert feedback.reflection_id == sent.id and feedback.therapist_id == therapist.id
    refresh(sent)
    assert sent.reviewed_at is not None
    assert sent.id not in queue_links(client.get("/review").get_data(as_text=True))
    client.post("/logout")

    login(client, maria)
    home = client.get("/home").get_data(as_text=True)
    assert "New feedback" in home and "new feedback" in home
    assert f'href="/tasks/{sent.assignment_id}"' in home
    page = client.get(f"/tasks/{sent.assignment_id}").get_data(as_text=True)
    assert f"Feedback from {therapist.name}" in page
    assert "<p>Thank you.</p><p>That &lt;em&gt;matters&lt;/em&gt;.</p>" in page
    assert page.index("We laughed at the market.") < page.index("Thank you.")
    home = client.get("/home").get_data(as_text=True)
    assert "new feedback" not in home.lower()

    # Another answer brings the marker back.
    client.post("/logout")
    login(client, therapist)
    client.post(f"/reflections/{sent.id}/feedback", data={"body": "One more thought."})
    client.post("/logout")
    login(client, maria)
    assert "new feedback" in client.get("/home").get_data(as_text=True)


def test_feedback_without_marking_reviewed_keeps_it_in_the_queue(client, people, sent):
    login(client, people["therapist"])
    client.post(f"/reflections/{sent.id}/feedback", data={"body": "A first word."})
    refresh(sent)
    assert sent.reviewed_at is None and sent.last_feedback_at is not None
    assert sent.id in queue_links(client.get("/review").get_data(as_text=True))


def test_empty_feedback_is_a_form_error(client, people, sent):
    login(client, people["therapist"])
    response = client.post(f"/reflections/{sent.id}/feedback", data={"body": "  ", "mark_reviewed": "y"})
    assert response.status_code == 400
    assert "Write your feedback first." in response.get_data(as_text=True)
    refresh(sent)
    assert sent.reviewed_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 0


def test_marking_reviewed_takes_it_out_of_the_queue(client, people, sent):
    login(client, people["therapist"])
    assert sent.id in queue_links(client.get("/review").get_data(as_text=True))
    response = client.post(f"/reflections/{sent.id}/reviewed")
    assert response.status_code == 302
    refresh(sent)
    assert sent.reviewed_at is not None
    page = client.get("/review").get_data(as_text=True)
    assert sent.id not in queue_links(page) and "0 waiting" in page
    assert "Nothing waiting for review." in client.get("/caseload").get_data(as_text=True)


def test_an_addendum_or_urgent_flag_brings_it_back_to_the_queue(client, people, sent):
    therapist, maria = people["therapist"], people["client"]
    other = submit(maria, assign(therapist, maria), submitted_at=days_ago(10))
    login(client, therapist)
    client.post(f"/reflections/{sent.id}/reviewed")
    client.post("/logout")
    login(client, maria)
    client.post(f"/reflections/{sent.id}/urgent")
    client.post("/logout")
    login(client, therapist)
    assert queue_links(client.get("/review").get_data(as_text=True)) == [sent.id, other.id]


def test_a_private_annotation_is_kept_for_the_therapist_only(client, people, sent):
    therapist, maria = people["therapist"], people["client"]
    login(client, therapist)
    response = client.post(f"/reflections/{sent.id}/annotations", data={"body": SENTINEL})
    assert response.status_code == 302
    [note] = db.session.scalars(sa.select(PrivateAnnotation))
    assert note.body == SENTINEL and note.therapist_id == therapist.id
    assert SENTINEL in client.get(f"/reflections/{sent.id}").get_data(as_text=True)
    client.post(f"/reflections/{sent.id}/feedback", data={"body": "Shared words", "mark_reviewed": "y"})
    client.post("/logout")

    login(client, maria)
    responses = [
        client.get("/home"),
        client.get(f"/tasks/{sent.assignment_id}"),
        client.get(f"/reflections/{sent.id}"),
        client.get(f"/reflections/{sent.id}", follow_redirects=True),
        client.get("/review"),
        client.get("/caseload"),
        client.get(f"/clients/{maria.id}"),
        client.post(f"/reflections/{sent.id}/annotations", data={"body": "x"}),
        client.post(f"/reflections/{sent.id}/feedback", data={"body": "x"}),
        client.post(f"/reflections/{sent.id}/reviewed"),
        client.post(f"/reflections/{sent.id}/addenda", data={"body": "Adding"}, follow_redirects=True),
        client.post(f"/reflections/{sent.id}/addenda", data={"body": "z" * 20_001}),
        client.post(f"/reflections/{sent.id}/urgent", follow_redirects=True),
        client.post(f"/tasks/{sent.assignment_id}/draft", data={"answer_0": "x"}),
        client.post(f"/tasks/{sent.assignment_id}", data={"answer_0": "x", "action": "save"},
                    follow_redirects=True),
        client.get("/exercises/"),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses[4] == 403 and statuses[7] == 403 and statuses[8] == 403
    assert 500 not in statuses
    for response in responses:
        assert SENTINEL not in response.get_data(as_text=True)
    assert "Shared words" in responses[1].get_data(as_text=True)

    # Her partner in the practice sees nothing of it either.
    client.post("/logout")
    login(client, people["other_client_same_therapist"])
    for url in ("/home", f"/tasks/{sent.assignment_id}", f"/reflections/{sent.id}"):
        assert SENTINEL not in client.get(url).get_data(as_text=True)


def test_an_empty_annotation_is_a_form_error(client, people, sent):
    login(client, people["therapist"])
    response = client.post(f"/reflections/{sent.id}/annotations", data={"body": "\x00 "})
    assert response.status_code == 400
    assert "Write the annotation first." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PrivateAnnotation)) == 0


def test_feedback_and_annotations_strip_nul_characters(client, people, sent):
    login(client, people["therapist"])
    client.post(f"/reflections/{sent.id}/feedback", data={"body": "Warm\x00 words\x1b"})
    client.post(f"/reflections/{sent.id}/annotations", data={"body": "My\x00 note"})
    assert db.session.scalar(sa.select(Feedback.body)) == "Warm words"
    assert db.session.scalar(sa.select(PrivateAnnotation.body)) == "My note"


def test_the_therapists_pages_link_to_the_sent_reflection(client, people, sent):
    login(client, people["therapist"])
    page = client.get(f"/tasks/{sent.assignment_id}").get_data(as_text=True)
    assert f'href="/reflections/{sent.id}"' in page
    client_page = client.get(f"/clients/{people['client'].id}").get_data(as_text=True)
    assert "to review" in client_page
    client.post(f"/reflections/{sent.id}/reviewed")
    client_page = client.get(f"/clients/{people['client'].id}").get_data(as_text=True)
    assert "to review" not in client_page and "reviewed" in client_page


@pytest.mark.parametrize("page", ["99999999999999999999", "100001", "-3", "abc"])
def test_a_page_number_out_of_range_is_a_page_not_an_error(client, people, sent, page):
    login(client, people["therapist"])
    queue = client.get(f"/review?page={page}")
    assert queue.status_code == 200
    tasks = client.get(f"/clients/{people['client'].id}?page={page}")
    assert tasks.status_code == 200
    if page in ("-3", "abc"):  # read as the first page
        assert sent.id in queue_links(queue.get_data(as_text=True))
