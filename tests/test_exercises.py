"""The exercise library: the built-in families, a therapist's own exercises, and who may do what."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.homework.families import FAMILIES
from app.models import Assignment, Exercise
from tests.builders_homework import assign, built_in, make_exercise, refresh
from tests.conftest import login

NEW_EXERCISE = {
    "title": "Listen for ten minutes",
    "family": "change_dynamic",
    "instructions": "Once this week, listen to her for ten minutes.\n\nDo not give advice.",
    "prompts": "What did you hear?\nHow did she respond?\n\n  How did it feel?  \n",
}


def own_exercises(therapist):
    return list(db.session.scalars(sa.select(Exercise).where(Exercise.owner_id == therapist.id)
                                   .order_by(Exercise.id)))


# --- the built-in library --------------------------------------------------------------------

def test_a_fresh_database_has_every_family_with_two_to_five_prompts(app):
    exercises = list(db.session.scalars(sa.select(Exercise).where(Exercise.built_in.is_(True))))
    assert {e.family for e in exercises} == set(FAMILIES)
    assert len(FAMILIES) == 8
    for exercise in exercises:
        assert exercise.owner_id is None
        assert 2 <= len(exercise.prompts) <= 5, exercise.title
        assert all(p.strip() for p in exercise.prompts)
        assert len(exercise.instructions) > 100, exercise.title
    assert {f.sharing for f in FAMILIES.values() if f.key == "safety"} == {"never"}


def test_the_library_page_lists_every_family_for_a_therapist(client, people):
    login(client, people["therapist"])
    page = client.get("/exercises/").get_data(as_text=True)
    for family in FAMILIES.values():
        assert family.name in page
    safety = built_in("safety")
    assert f'href="/exercises/{safety.id}"' in page


def test_clients_cannot_open_the_library(client, people):
    login(client, people["client"])
    assert client.get("/exercises/").status_code == 403
    assert client.get("/exercises/new").status_code == 403
    assert client.post("/exercises/new", data=NEW_EXERCISE).status_code == 403
    assert client.get(f"/exercises/{built_in().id}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Exercise)
                             .where(Exercise.built_in.is_(False))) == 0


# --- her own exercises -----------------------------------------------------------------------

def test_a_therapist_writes_her_own_exercise(client, people):
    therapist = people["therapist"]
    login(client, therapist)
    response = client.post("/exercises/new", data=NEW_EXERCISE)
    assert response.status_code == 302
    [exercise] = own_exercises(therapist)
    assert response.headers["Location"].endswith(f"/exercises/{exercise.id}")
    assert exercise.title == "Listen for ten minutes"
    assert exercise.family == "change_dynamic"
    assert exercise.prompts == ["What did you hear?", "How did she respond?", "How did it feel?"]
    assert exercise.built_in is False and exercise.version == 1

    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert "Listen for ten minutes" in page
    assert "<li>How did she respond?</li>" in page
    assert "<p>Once this week, listen to her for ten minutes.</p><p>Do not give advice.</p>" in page
    index = client.get("/exercises/").get_data(as_text=True)
    assert "Listen for ten minutes" in index


@pytest.mark.parametrize("prompts,count", [("Only one question?", 1),
                                           ("\n".join(f"Question {i}?" for i in range(6)), 6),
                                           ("  \n\n  ", 0)])
def test_an_exercise_needs_two_to_five_prompts(client, people, prompts, count):
    login(client, people["therapist"])
    response = client.post("/exercises/new", data={**NEW_EXERCISE, "prompts": prompts})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    if count:
        assert f"Write 2 to 5 prompts, one per line (you have {count})." in page
    else:
        assert "field-error" in page
    assert own_exercises(people["therapist"]) == []


def test_an_unknown_family_is_refused(client, people):
    login(client, people["therapist"])
    response = client.post("/exercises/new", data={**NEW_EXERCISE, "family": "made_up"})
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert own_exercises(people["therapist"]) == []


def test_text_in_an_exercise_that_looks_like_html_is_shown_as_text(client, people):
    login(client, people["therapist"])
    client.post("/exercises/new", data={**NEW_EXERCISE, "title": "<b>Bold</b> move",
                                        "instructions": "<script>alert(1)</script>"})
    [exercise] = own_exercises(people["therapist"])
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert "<b>Bold</b>" not in page and "<script>alert(1)" not in page
    assert "&lt;b&gt;Bold&lt;/b&gt; move" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nul_and_control_characters_in_an_exercise_are_stripped(client, people):
    login(client, people["therapist"])
    response = client.post("/exercises/new", data={
        **NEW_EXERCISE, "title": "Quiet\x00 walk\x07", "instructions": "Walk\x00 together.\x1b",
        "prompts": "Where\x00 did you go?\nWhat did you see?"})
    assert response.status_code == 302
    [exercise] = own_exercises(people["therapist"])
    assert exercise.title == "Quiet walk"
    assert exercise.instructions == "Walk together."
    assert exercise.prompts == ["Where did you go?", "What did you see?"]


def test_she_edits_her_own_exercise_and_its_version_goes_up(client, people):
    therapist = people["therapist"]
    exercise = make_exercise(therapist, title="Before")
    login(client, therapist)
    form = client.get(f"/exercises/{exercise.id}/edit").get_data(as_text=True)
    assert "First?\nSecond?" in form
    response = client.post(f"/exercises/{exercise.id}/edit", data={**NEW_EXERCISE, "title": "After"})
    assert response.status_code == 302
    refresh(exercise)
    assert exercise.title == "After"
    assert exercise.version == 2
    assert exercise.prompts == ["What did you hear?", "How did she respond?", "How did it feel?"]


def test_editing_does_not_change_a_task_already_given(client, people):
    therapist, maria = people["therapist"], people["client"]
    exercise = make_exercise(therapist, title="Original title", instructions="Original steps.",
                             prompts=["Original first?", "Original second?"])
    task = assign(therapist, maria, exercise)
    login(client, therapist)
    client.post(f"/exercises/{exercise.id}/edit", data={**NEW_EXERCISE, "title": "Changed title"})
    refresh(exercise, task)
    assert exercise.version == 2
    assert task.exercise_version == 1
    assert task.title == "Original title"
    assert task.instructions == "Original steps."
    assert task.prompts == ["Original first?", "Original second?"]

    client.post("/logout")
    login(client, maria)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Original title" in page and "Original first?" in page
    assert "Changed title" not in page and "What did you hear?" not in page
    # A task given after the edit gets the new version.
    later = assign(therapist, maria, exercise)
    assert later.exercise_version == 2 and later.title == "Changed title"


def test_she_duplicates_her_own_exercise(client, people):
    therapist = people["therapist"]
    exercise = make_exercise(therapist, title="Mine")
    login(client, therapist)
    response = client.post(f"/exercises/{exercise.id}/duplicate")
    assert response.status_code == 302
    original, copy = own_exercises(therapist)
    assert original.id == exercise.id
    assert response.headers["Location"].endswith(f"/exercises/{copy.id}/edit")
    assert copy.title == "Mine (my copy)" and copy.prompts == original.prompts
    assert copy.version == 1 and copy.built_in is False


def test_she_archives_and_restores_her_own_exercise(client, people):
    therapist = people["therapist"]
    exercise = make_exercise(therapist, title="Soon archived")
    login(client, therapist)
    assert client.post(f"/exercises/{exercise.id}/archive").status_code == 302
    refresh(exercise)
    assert exercise.archived_at is not None
    assert "Soon archived" not in client.get("/exercises/").get_data(as_text=True)
    assert "Soon archived" in client.get("/exercises/?archived=1").get_data(as_text=True)
    # An archived exercise is no longer offered when assigning.
    assign_page = client.get(f"/clients/{people['client'].id}/assign").get_data(as_text=True)
    assert "Soon archived" not in assign_page

    assert client.post(f"/exercises/{exercise.id}/archive", data={"restore": "1"}).status_code == 302
    refresh(exercise)
    assert exercise.archived_at is None
    assert "Soon archived" in client.get("/exercises/").get_data(as_text=True)


# --- built-in exercises are read-only ----------------------------------------------------------

def test_built_in_exercises_cannot_be_edited_or_archived(client, people):
    exercise = built_in("forgiveness_letter")
    title, prompts = exercise.title, list(exercise.prompts)
    login(client, people["therapist"])
    assert client.get(f"/exercises/{exercise.id}/edit").status_code == 403
    assert client.post(f"/exercises/{exercise.id}/edit", data=NEW_EXERCISE).status_code == 403
    assert client.post(f"/exercises/{exercise.id}/archive").status_code == 403
    refresh(exercise)
    assert exercise.title == title and exercise.prompts == prompts
    assert exercise.archived_at is None and exercise.version == 1
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert "read-only" in page
    assert f"/exercises/{exercise.id}/edit" not in page


def test_a_built_in_exercise_can_be_duplicated_into_her_own(client, people):
    therapist = people["therapist"]
    exercise = built_in("safety")
    login(client, therapist)
    response = client.post(f"/exercises/{exercise.id}/duplicate")
    assert response.status_code == 302
    [copy] = own_exercises(therapist)
    assert copy.family == "safety" and copy.prompts == exercise.prompts
    assert copy.owner_id == therapist.id
    assert client.get(f"/exercises/{copy.id}/edit").status_code == 200


# --- another therapist's exercise --------------------------------------------------------------

def test_another_therapists_exercise_is_not_found(client, people):
    exercise = make_exercise(people["other_therapist"], title="Sams secret exercise")
    login(client, people["therapist"])
    assert client.get(f"/exercises/{exercise.id}").status_code == 404
    assert client.get(f"/exercises/{exercise.id}/edit").status_code == 404
    assert client.post(f"/exercises/{exercise.id}/edit", data=NEW_EXERCISE).status_code == 404
    assert client.post(f"/exercises/{exercise.id}/duplicate").status_code == 404
    assert client.post(f"/exercises/{exercise.id}/archive").status_code == 404
    assert "Sams secret exercise" not in client.get("/exercises/").get_data(as_text=True)
    assert own_exercises(people["therapist"]) == []
    refresh(exercise)
    assert exercise.title == "Sams secret exercise" and exercise.archived_at is None
    # Nor can she assign it by posting its id.
    response = client.post(f"/clients/{people['client'].id}/assign",
                           data={"exercise_id": exercise.id,
                                 "due_date": (date.today() + timedelta(days=2)).isoformat()})
    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 0


def test_an_exercise_can_carry_the_mothers_and_the_daughters_wording(client, people):
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import Exercise
    from tests.conftest import login

    login(client, people["therapist"])
    data = {"title": "Two views", "family": "growing_up", "instructions": "Try it.",
            "prompts": "What happened?\nHow did it feel?",
            "mother_prompts": "What happened with your daughter?\nHow did it feel as her mother?",
            "daughter_prompts": ""}
    assert client.post("/exercises/new", data=data).status_code == 302
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.title == "Two views"))
    assert exercise.member_prompts == {"mother": ["What happened with your daughter?",
                                                  "How did it feel as her mother?"]}
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert "How did it feel as her mother?" in page

    # A wording with a different number of lines than the prompts is a form error.
    bad = dict(data, title="Uneven", daughter_prompts="Only one line")
    response = client.post("/exercises/new", data=bad)
    assert response.status_code == 200
    assert "one line for each prompt" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Exercise).where(Exercise.title == "Uneven")) is None
