"""Issue 22, item 8: drafts carry a version. Two devices (two login sessions) on one draft: a
save from a page that has not seen the latest save changes nothing and says so (409), with the
other text, so that she chooses; nothing acknowledged is ever lost. Through HTTP, as the page's
script and the form without JavaScript send it."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.homework import drafts
from app.models import Reflection
from tests.builders_homework import assign, built_in, textarea
from tests.conftest import login

LONG = ("What happened, in many words. " * 80)[:2297]  # 2,297 acknowledged characters
SHORT = "Too short"  # 9 characters from a stale tab


@pytest.fixture
def task(people):
    return assign(people["therapist"], people["client"], built_in("stay_present"), due=0)


@pytest.fixture
def devices(app, people):
    """Maria signed in twice: her laptop and her phone (two login sessions)."""
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, people["client"])
    login(phone, people["client"])
    return laptop, phone


def stored(task) -> Reflection | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))


def page_version(html: str) -> str:
    """The draft version a page holds (the hidden field its saves send)."""
    tag = re.search(r'<input[^>]*\bname="draft_version"[^>]*>', html)
    assert tag, "the form carries no draft version"
    return unescape(re.search(r'value="([^"]*)"', tag.group(0)).group(1))


def opened(device, task) -> str:
    return page_version(device.get(f"/tasks/{task.id}").get_data(as_text=True))


def autosave(device, task, answer: str, version: str | None, **extra):
    data = {"answer_0": answer, "resentment": "", "closeness": "", "stayed_present": "", **extra}
    if version is not None:
        data["draft_version"] = version
    return device.post(f"/tasks/{task.id}/draft", data=data,
                       headers={"Accept": "application/json", "X-Requested-With": "fetch"})


def form_post(device, task, answer: str, version: str, action: str = "save", **ratings):
    return device.post(f"/tasks/{task.id}", data={
        "answer_0": answer, "draft_version": version, "action": action,
        "resentment": ratings.get("resentment", ""), "closeness": ratings.get("closeness", ""),
        "stayed_present": ratings.get("stayed_present", "")})


# --- the page's script ------------------------------------------------------------------------

def test_a_stale_autosave_is_refused_with_the_other_text_and_changes_nothing(devices, task):
    laptop, phone = devices
    seen_on_laptop, seen_on_phone = opened(laptop, task), opened(phone, task)
    assert seen_on_laptop == seen_on_phone == ""  # no draft yet

    first = autosave(laptop, task, LONG, seen_on_laptop)
    assert first.status_code == 200 and first.json["saved"] is True
    assert first.json["version"] == drafts.version_of(stored(task))

    stale = autosave(phone, task, SHORT, seen_on_phone)
    assert stale.status_code == 409
    assert stale.json["saved"] is False and stale.json["conflict"] is True
    assert stale.json["theirs"]["answer_0"] == LONG
    assert stale.json["version"] == first.json["version"]
    assert stored(task).answers[0] == LONG  # 2,297 acknowledged characters, all still there

    # "Keep mine": the phone saves again, naming the version it has now seen.
    mine = autosave(phone, task, SHORT, stale.json["version"])
    assert mine.status_code == 200
    assert stored(task).answers[0] == SHORT
    # ... and now the laptop is the stale one.
    assert autosave(laptop, task, LONG + " more", first.json["version"]).status_code == 409
    assert stored(task).answers[0] == SHORT


def test_every_save_makes_a_new_version_even_within_the_same_microsecond(devices, task, monkeypatch):
    laptop, phone = devices
    frozen = datetime(2026, 12, 1, 12, 0, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(drafts, "utcnow", lambda: frozen)  # every save "at the same instant"
    v1 = autosave(laptop, task, "one", "").json["version"]
    v2 = autosave(laptop, task, "two", v1).json["version"]
    v3 = autosave(laptop, task, "three", v2).json["version"]
    assert len({v1, v2, v3}) == 3
    # The phone saw v2: one save later it is stale, though the clock has not moved.
    assert autosave(phone, task, "from the phone", v2).status_code == 409
    assert stored(task).answers[0] == "three"


def test_keep_both_joins_the_two_texts_and_marks_the_other(devices, task):
    laptop, phone = devices
    first = autosave(laptop, task, "Written on the laptop.", "")
    stale = autosave(phone, task, "Written on the phone.", "", resentment="3")
    assert stale.status_code == 409
    both = autosave(phone, task, "Written on the phone.", stale.json["version"], resentment="3",
                    resolve="both")
    assert both.status_code == 200
    kept = stored(task).answers[0]
    assert kept.startswith("Written on the phone.")
    assert kept.endswith("Written on the laptop.")
    assert drafts.BOTH_MARK in kept
    assert both.json["fields"]["answer_0"] == kept  # the page shows what was saved
    assert stored(task).resentment == 3
    assert first.json["version"] != both.json["version"]


def test_keep_both_on_a_version_changed_again_is_a_new_conflict(devices, task):
    laptop, phone = devices
    autosave(laptop, task, "first", "")
    stale = autosave(phone, task, "phone", "")
    autosave(laptop, task, "second", stale.json["version"])  # the laptop saves again meanwhile
    again = autosave(phone, task, "phone", stale.json["version"], resolve="both")
    assert again.status_code == 409
    assert again.json["theirs"]["answer_0"] == "second"
    assert stored(task).answers[0] == "second"


def test_a_save_sent_again_after_its_answer_was_lost_is_not_a_conflict(devices, task):
    """The first copy reached the server (its answer did not reach the page): the same text
    again, on the version the page still holds, is simply saved already."""
    laptop, _ = devices
    assert autosave(laptop, task, "the same words", "").status_code == 200
    again = autosave(laptop, task, "the same words", "")
    assert again.status_code == 200 and again.json["saved"] is True
    assert stored(task).answers[0] == "the same words"


def test_a_save_naming_no_version_is_not_checked(devices, task):
    """A page rendered before versions existed still saves (last write wins, as before)."""
    laptop, phone = devices
    autosave(laptop, task, "from the laptop", "")
    assert autosave(phone, task, "from an old page", None).status_code == 200
    assert stored(task).answers[0] == "from an old page"


def test_a_version_the_app_never_gave_is_a_conflict(devices, task):
    laptop, _ = devices
    autosave(laptop, task, "kept", "")
    for bogus in ("yesterday", "2026-12-01T12:00:00", "1999-01-01T00:00:00+00:00"):
        assert autosave(laptop, task, "overwrite?", bogus).status_code == 409
    assert stored(task).answers[0] == "kept"


# --- the form's own post, without JavaScript ----------------------------------------------------

def test_a_stale_save_draft_shows_both_texts_and_the_choice_and_changes_nothing(devices, task):
    laptop, phone = devices
    seen = opened(phone, task)
    autosave(laptop, task, LONG, "")
    response = form_post(phone, task, SHORT, seen)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert stored(task).answers[0] == LONG
    assert textarea(page, "answer_0") == SHORT  # hers, still in the form
    assert LONG.strip()[:200] in unescape(page)  # the other, beside it
    for choice in ("keep_both", "keep_mine", "keep_theirs"):
        assert f'name="action" value="{choice}"' in page
    for label in ("Keep both", "Keep mine", "Keep the other"):
        assert label in page
    assert 'value="save"' not in page  # the choice comes first
    assert page_version(page) == drafts.version_of(stored(task))


def test_a_stale_send_sends_nothing_and_replaces_nothing(devices, task):
    laptop, phone = devices
    seen = opened(phone, task)
    autosave(laptop, task, LONG, "")
    response = form_post(phone, task, SHORT, seen, action="submit", resentment="2", closeness="5",
                         stayed_present="yes")
    assert response.status_code == 409
    reflection = stored(task)
    assert reflection.status == "draft" and reflection.answers[0] == LONG
    db.session.refresh(task)
    assert task.status == "open"


@pytest.mark.parametrize(("action", "expected", "message"), [
    ("keep_mine", "phone", "Your version is saved"),
    ("keep_theirs", "laptop", "You kept the version saved elsewhere"),
    ("keep_both", "phone\n\n" + drafts.BOTH_MARK + "\n\nlaptop", "Both versions are kept"),
], ids=["keep_mine", "keep_theirs", "keep_both"])
def test_each_choice_without_javascript(devices, task, action, expected, message):
    laptop, phone = devices
    seen = opened(phone, task)
    autosave(laptop, task, "laptop", "")
    conflict = form_post(phone, task, "phone", seen)
    assert conflict.status_code == 409
    chosen = form_post(phone, task, "phone", page_version(conflict.get_data(as_text=True)), action=action)
    assert chosen.status_code == 302
    assert stored(task).answers[0] == expected
    assert message in phone.get(chosen.location).get_data(as_text=True)


def test_a_choice_made_after_yet_another_save_is_a_new_conflict(devices, task):
    laptop, phone = devices
    seen = opened(phone, task)
    autosave(laptop, task, "laptop one", "")
    conflict = form_post(phone, task, "phone", seen)
    other = page_version(conflict.get_data(as_text=True))
    autosave(laptop, task, "laptop two", other)
    again = form_post(phone, task, "phone", other, action="keep_mine")
    assert again.status_code == 409
    assert "laptop two" in again.get_data(as_text=True)
    assert stored(task).answers[0] == "laptop two"


def test_a_refused_send_carries_the_version_it_saved(devices, task):
    """Sent without the ratings: refused, but her words are saved as the draft; the page shown
    again holds that new version, so her next save is not taken for someone else's."""
    laptop, _ = devices
    seen = opened(laptop, task)
    response = form_post(laptop, task, "my words", seen, action="submit")
    assert response.status_code == 400
    version = page_version(response.get_data(as_text=True))
    assert version == drafts.version_of(stored(task)) != ""
    assert autosave(laptop, task, "my words, and more", version).status_code == 200


def test_the_page_holds_the_version_of_the_draft_it_shows(devices, task):
    laptop, _ = devices
    saved = autosave(laptop, task, "words", "").json["version"]
    assert opened(laptop, task) == saved == drafts.version_of(stored(task))
