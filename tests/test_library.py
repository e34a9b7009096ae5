"""The library (issue 18, part 4): descriptions and lengths, search and family filter, paging,
"Assign" on every exercise, and the preview of what a client sees (which writes nothing)."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.homework.families import FAMILIES
from app.models import Exercise, utcnow
from tests.builders_homework import built_in, make_exercise
from tests.builders_pairs import flashes, text_of
from tests.conftest import login

NEW_EXERCISE = {
    "title": "Listen for ten minutes",
    "family": "change_dynamic",
    "instructions": "Once this week, listen to her for ten minutes.",
    "prompts": "What did you hear?\nHow did she respond?",
}


def titles(response) -> list[str]:
    """The exercises a library page lists, in order."""
    return re.findall(r'<h3><a href="/exercises/\d+">([^<]+)</a></h3>', response.get_data(as_text=True))


def every_row_count() -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in db.metadata.sorted_tables}


# --- what the library says of each exercise --------------------------------------------------

def test_every_built_in_exercise_has_a_description_and_a_length_and_the_library_shows_them(client, people):
    exercises = list(db.session.scalars(sa.select(Exercise).where(Exercise.built_in.is_(True))))
    assert {e.family for e in exercises} == set(FAMILIES)
    for exercise in exercises:
        assert 40 < len(exercise.description) <= 1000, exercise.title
        assert 1 <= exercise.typical_minutes <= 240, exercise.title
    login(client, people["therapist"])
    page = text_of(client.get("/exercises/"))
    letter = built_in("forgiveness_letter")
    assert letter.description in page
    assert f"about {letter.typical_minutes} min" in page
    assert "8 exercises" in page


def test_she_gives_her_own_exercise_a_description_and_a_length_and_can_change_them(client, people):
    login(client, people["therapist"])
    response = client.post("/exercises/new", data={**NEW_EXERCISE, "description": "  For a quiet week.  ",
                                                   "typical_minutes": "12"})
    assert response.status_code == 302
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.owner_id == people["therapist"].id))
    assert (exercise.description, exercise.typical_minutes) == ("For a quiet week.", 12)
    page = text_of(client.get(f"/exercises/{exercise.id}"))
    assert "For a quiet week." in page and "About 12 minutes" in page

    client.post(f"/exercises/{exercise.id}/edit", data={**NEW_EXERCISE, "description": "", "typical_minutes": ""})
    db.session.refresh(exercise)
    assert (exercise.description, exercise.typical_minutes, exercise.version) == ("", None, 2)
    # Without a description the library shows the start of the instructions instead.
    assert "Once this week, listen to her for ten minutes." in text_of(client.get("/exercises/?q=listen"))


def test_a_length_or_description_out_of_bounds_is_refused_in_words(client, people):
    login(client, people["therapist"])
    cases = [({"typical_minutes": "0"}, "Choose 1 to 240 minutes."),
             ({"typical_minutes": "241"}, "Choose 1 to 240 minutes."),
             ({"typical_minutes": "ten"}, "Write the minutes as a whole number, for example 15."),
             ({"description": "x" * 1001}, "Keep the description to 1,000 characters (it has 1,001).")]
    for fields, message in cases:
        response = client.post("/exercises/new", data={**NEW_EXERCISE, **fields})
        assert response.status_code == 200 and message in text_of(response), fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Exercise)
                             .where(Exercise.owner_id == people["therapist"].id)) == 0
    assert client.post("/exercises/new", data={**NEW_EXERCISE, "typical_minutes": "240",
                                               "description": "x" * 1000}).status_code == 302


# --- search, family, pages ---------------------------------------------------------------------

def test_search_is_case_insensitive_over_title_description_and_instructions_and_finds_only_those(client, people):
    ruth, sam = people["therapist"], people["other_therapist"]
    in_title = make_exercise(ruth, title="Zephyr mornings")
    in_description = make_exercise(ruth, title="By the sea", family="forgiveness_letter")
    in_description.description = "A ZEPHYR off the water."
    in_instructions = make_exercise(ruth, title="Evening", instructions="Feel the zePHyr tonight.")
    make_exercise(ruth, title="Unrelated", instructions="Nothing to find.")
    make_exercise(sam, title="Sam's zephyr")  # another therapist's: never hers to find
    archived = make_exercise(ruth, title="Old zephyr")
    archived.archived_at = utcnow()
    db.session.commit()
    login(client, ruth)

    assert sorted(titles(client.get("/exercises/?q=zephyr"))) == sorted(
        [in_title.title, in_description.title, in_instructions.title])
    assert "Old zephyr" in titles(client.get("/exercises/?q=zephyr&archived=1"))
    assert titles(client.get("/exercises/?q=ZEPHYR+water")) == ["By the sea"]  # every word
    assert titles(client.get("/exercises/?q=zephyr&family=forgiveness_letter")) == ["By the sea"]
    # A family alone: the built-in one of that family and hers, nothing of another family.
    assert titles(client.get("/exercises/?family=forgiveness_letter")) == [
        built_in("forgiveness_letter").title, "By the sea"]
    # An unknown family is no filter at all (not an error).
    assert len(titles(client.get("/exercises/?family=made_up"))) == 8 + 4

    empty = client.get("/exercises/?q=%25&family=stay_present")  # "%" is a character, not a wildcard
    assert empty.status_code == 200 and titles(empty) == []
    page = empty.get_data(as_text=True)
    assert "No exercise matches “%” in Stay present." in text_of(empty)
    assert 'href="/exercises/">Clear the search</a>' in page


def test_a_long_library_is_paged_and_the_search_carries_over(client, people):
    ruth = people["therapist"]
    db.session.add_all(Exercise(owner_id=ruth.id, built_in=False, family="stay_present", title=f"Paged {i:02}",
                                instructions="Try.", prompts=["One?", "Two?"]) for i in range(25))
    db.session.commit()
    login(client, ruth)
    first = client.get("/exercises/?q=paged")
    assert titles(first) == [f"Paged {i:02}" for i in range(20)]
    assert 'href="/exercises/?page=2&amp;q=paged"' in first.get_data(as_text=True)
    second = client.get("/exercises/?q=paged&page=2")
    assert titles(second) == [f"Paged {i:02}" for i in range(20, 25)]
    assert "Page 2 of 2" in text_of(second)
    assert "past the end" in text_of(client.get("/exercises/?q=paged&page=9"))


# --- assign and preview on every exercise ------------------------------------------------------

def test_every_exercise_page_offers_assign_and_preview_and_an_archived_one_only_preview(client, people):
    ruth = people["therapist"]
    own = make_exercise(ruth, title="Mine")
    login(client, ruth)
    for exercise in (built_in("growing_up"), own):
        page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
        assert f'href="/exercises/{exercise.id}/assign">Assign</a>' in page
        assert f'href="/exercises/{exercise.id}/preview">Preview as the client</a>' in page
    growing_up = client.get(f"/exercises/{built_in('growing_up').id}").get_data(as_text=True)
    assert "Preview as the mother" in growing_up and "Preview as the daughter" in growing_up
    assert "Preview as the mother" not in client.get(f"/exercises/{own.id}").get_data(as_text=True)

    own.archived_at = utcnow()
    db.session.commit()
    page = client.get(f"/exercises/{own.id}").get_data(as_text=True)
    assert f"/exercises/{own.id}/assign" not in page and f"/exercises/{own.id}/preview" in page
    response = client.get(f"/exercises/{own.id}/assign")
    assert response.status_code == 302 and response.location.endswith(f"/exercises/{own.id}")
    assert "restore it before assigning it" in " ".join(flashes(client.get(response.location)))


def test_the_preview_is_the_clients_task_page_and_writes_nothing(client, people):
    exercise = built_in("growing_up")
    login(client, people["therapist"])
    before = every_row_count()
    response = client.get(f"/exercises/{exercise.id}/preview")
    assert response.status_code == 200
    page, text = response.get_data(as_text=True), text_of(response)
    assert "What to try" in text and "Your reflection" in text  # the task page's own parts
    for prompt in exercise.prompts:
        assert f'<label for="answer_{exercise.prompts.index(prompt)}">{prompt}</label>' in page
    assert "How strong did the resentment feel?" in text and "Urgent — please read" in text
    assert "<fieldset class=\"preview-fields\" disabled>" in page and "<form" not in page.split("<main")[1]

    mother = client.get(f"/exercises/{exercise.id}/preview?as=mother")
    assert exercise.member_prompts["mother"][0] in text_of(mother)
    assert exercise.member_prompts["daughter"][0] not in text_of(mother)
    assert "Reveal together: your daughter reads it once both of you have sent yours" in text_of(mother)
    daughter = text_of(client.get(f"/exercises/{exercise.id}/preview?as=daughter"))
    assert exercise.member_prompts["daughter"][0] in daughter and "your mother" in daughter
    # Any other ?as= is the client on their own.
    assert exercise.prompts[0] in text_of(client.get(f"/exercises/{exercise.id}/preview?as=partner"))
    assert every_row_count() == before

    safety = text_of(client.get(f"/exercises/{built_in('safety').id}/preview"))
    assert "Only your therapist ever reads this." in safety


def test_a_client_cannot_preview_or_assign_from_the_library(client, people):
    login(client, people["client"])
    exercise = built_in()
    assert client.get(f"/exercises/{exercise.id}/preview").status_code == 404
    assert client.get(f"/exercises/{exercise.id}/assign").status_code == 404
    login(client, people["other_therapist"])
    own = make_exercise(people["therapist"])
    assert client.get(f"/exercises/{own.id}/preview").status_code == 404
    assert client.get(f"/exercises/{own.id}/assign").status_code == 404
