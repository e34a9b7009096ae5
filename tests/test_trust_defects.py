"""Issue 14: the trust defects found when the product was tried as its people would, each with
the test that would have caught it (the export, the review page's boxes, the session page and
the encrypted notes have files of their own: test_export, test_session_page_keeps_text,
test_encryption, test_html_valid, test_drafts_stay_private)."""
from __future__ import annotations

import re
from html import unescape

import sqlalchemy as sa

from app.extensions import db
from app.homework import deletion
from app.homework import review as review_services
from app.models import Notification, Reflection
from app.pairs import services as pair_services
from tests.builders_homework import assign, days_ago, submit
from tests.builders_pairs import flashes, give_to_pair, link, signed_in, text_of
from tests.builders_sessions import record
from tests.conftest import make_client, make_therapist


def _cast(app):
    ruth = make_therapist("Ruth")
    maria = make_client(ruth, "Maria")
    elena = make_client(ruth, "Elena")
    jonah = make_client(ruth, "Jonah")
    pair = link(ruth, maria, elena, labels=("mother", "daughter"))
    return dict(ruth=ruth, maria=maria, elena=elena, jonah=jonah, pair=pair)


# --- 4. each member's relation is shown on her own name ---------------------------------------

def test_pair_labels_sit_on_the_right_names(app):
    c = _cast(app)
    ruth = signed_in(app, c["ruth"])
    maria, elena = c["maria"].name, c["elena"].name
    marias_page = text_of(ruth.get(f"/clients/{c['maria'].id}"))
    assert f"{maria} (mother) with {elena} (daughter)" in marias_page
    assert f"with {elena} (mother)" not in marias_page
    elenas_page = text_of(ruth.get(f"/clients/{c['elena'].id}"))
    assert f"{elena} (daughter) with {maria} (mother)" in elenas_page
    assert f"with {maria} (daughter)" not in elenas_page


# --- 5. nobody is assumed to be "she" ---------------------------------------------------------

def _therapist_pages(app, c, client):
    ruth = signed_in(app, c["ruth"])
    task = assign(c["ruth"], client, due=1)
    first = submit(client, task, answers=["First time."])
    return " ".join(text_of(ruth.get(url)) for url in (
        f"/clients/{client.id}", f"/clients/{client.id}/prep", f"/reflections/{first.id}",
        f"/tasks/{task.id}"))


def test_a_client_without_pronouns_is_named_not_called_she(app):
    c = _cast(app)
    record(c["ruth"], c["jonah"], starts_at=days_ago(3))
    pages = _therapist_pages(app, c, c["jonah"])
    # the therapist's own words about the client (exercise texts speak of the other person)
    for phrase in ("since her last session", "She wants to bring up", "Nothing on her list",
                   "her first reflection", "give her the first one", "Her record is kept",
                   "She will no longer", "Her earlier reflections", "her task will show",
                   "she has started writing"):
        assert phrase not in pages, phrase
    assert "Everything since Jonah’s last session" in pages
    assert f"{c['jonah'].name} wants to bring up" in pages
    assert "This is Jonah’s first reflection on this exercise." in pages


def test_pronouns_chosen_on_the_account_page_are_used(app):
    c = _cast(app)
    jonah = signed_in(app, c["jonah"])
    account = jonah.get("/account").get_data(as_text=True)
    assert 'name="pronouns"' in account and "he / him" in account
    response = jonah.post("/account", data={"name": c["jonah"].name, "timezone": "Europe/London",
                                            "pronouns": "he"})
    assert response.status_code == 302
    record(c["ruth"], c["jonah"], starts_at=days_ago(3))
    pages = _therapist_pages(app, c, c["jonah"])
    assert "Everything since his last session" in pages
    assert "This is his first reflection on this exercise." in pages
    # and an unknown choice is refused, changing nothing
    refused = jonah.post("/account", data={"name": "X", "timezone": "Europe/London", "pronouns": "it"})
    assert refused.status_code == 200 and "Not a valid choice" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert c["jonah"].pronouns == "he" and c["jonah"].name != "X"


# --- 6. pair states say what is true from each side -------------------------------------------

def test_turns_from_each_side_of_a_reveal_together_exercise(app):
    c = _cast(app)
    _, tasks = give_to_pair(c["ruth"], c["pair"], reveal_together=True)
    maria, elena = signed_in(app, c["maria"]), signed_in(app, c["elena"])
    mtask, etask = tasks[c["maria"].id], tasks[c["elena"].id]
    mine = submit(c["maria"], mtask, answers=["MOTHER-SENT"])
    pair_services.share(c["maria"], mine)
    # Elena has not sent: it is her turn, not "waiting for your partner"
    page = text_of(elena.get(f"/tasks/{etask.id}"))
    assert "Your turn." in page and "Waiting for" not in page and "MOTHER-SENT" not in page
    shared = text_of(elena.get("/shared"))
    assert "your turn" in shared and "waiting for your partner" not in shared
    # Maria has sent and waits: her page says so, and Elena reads hers once both have sent
    page = text_of(maria.get(f"/tasks/{mtask.id}"))
    assert f"You have answered; waiting for {c['elena'].name}." in page
    assert f"{c['elena'].name} reads it once you have both sent yours" in page
    # both sent: nothing says "waiting" or "once you have both sent" any more
    pair_services.share(c["elena"], submit(c["elena"], etask, answers=["DAUGHTER-SENT"]))
    for browser, task, other_words in ((maria, mtask, "DAUGHTER-SENT"), (elena, etask, "MOTHER-SENT")):
        page = text_of(browser.get(f"/tasks/{task.id}"))
        assert other_words in page
        assert "once you have both sent" not in page and "Your turn" not in page
        assert "waiting" not in text_of(browser.get("/shared")).lower()


# --- 7. home and Notifications tell the same story --------------------------------------------

def _new_feedback_on_home(browser) -> bool:
    return "New feedback" in text_of(browser.get("/home"))


def _unread_feedback_notice(browser) -> bool:
    page = browser.get("/notifications").get_data(as_text=True)
    return bool(re.search(r"<strong>New feedback on one of your reflections</strong>", page))


def test_home_and_notifications_agree_about_new_feedback(app):
    c = _cast(app)
    task = assign(c["ruth"], c["jonah"], due=1)
    reflection = submit(c["jonah"], task)
    review_services.give_feedback(c["ruth"], reflection, "Well noticed.", True)
    jonah = signed_in(app, c["jonah"])
    assert _new_feedback_on_home(jonah) and _unread_feedback_notice(jonah)
    jonah.get(f"/tasks/{task.id}")  # she reads it
    assert not _new_feedback_on_home(jonah) and not _unread_feedback_notice(jonah)
    # the other way round: marking every notification read clears the marks on home too
    review_services.give_feedback(c["ruth"], reflection, "And one more thought.", False)
    assert _new_feedback_on_home(jonah) and _unread_feedback_notice(jonah)
    assert jonah.post("/notifications/read").status_code == 302
    assert not _new_feedback_on_home(jonah) and not _unread_feedback_notice(jonah)


def test_the_demo_tells_the_same_story_on_home_and_in_notifications(app):
    from app.models import User
    from app.ops.demo import DEMO_PASSWORD, DEMO_PEOPLE, seed_demo
    from tests.conftest import login

    seed_demo()
    for person in DEMO_PEOPLE:
        if person.role != "client":
            continue
        user = db.session.scalar(sa.select(User).where(User.email == person.email))
        browser = app.test_client()
        login(browser, user, password=DEMO_PASSWORD)
        assert _new_feedback_on_home(browser) == _unread_feedback_notice(browser), person.email


# --- 9. a withdrawn share is no longer announced ----------------------------------------------

def _share_notices(user) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.kind == "partner_shared"))


def test_withdrawing_a_share_takes_back_its_notification(app):
    c = _cast(app)
    _, tasks = give_to_pair(c["ruth"], c["pair"])
    first = submit(c["maria"], tasks[c["maria"].id], answers=["ONE"])
    other = submit(c["maria"], assign(c["ruth"], c["maria"], due=1), answers=["TWO"])
    pair_services.share(c["maria"], first)
    assert _share_notices(c["elena"]) == 1
    elena = signed_in(app, c["elena"])
    assert "shared a reflection with you" in text_of(elena.get("/notifications"))
    maria = signed_in(app, c["maria"])
    response = maria.post(f"/reflections/{first.id}/unshare", follow_redirects=True)
    assert response.status_code == 200 and flashes(response)
    assert _share_notices(c["elena"]) == 0
    assert "shared a reflection with you" not in text_of(elena.get("/notifications"))
    assert other.shared_at is None


def test_an_ended_pair_takes_back_every_share_notification(app):
    c = _cast(app)
    _, tasks = give_to_pair(c["ruth"], c["pair"])
    pair_services.share(c["maria"], submit(c["maria"], tasks[c["maria"].id]))
    pair_services.share(c["elena"], submit(c["elena"], tasks[c["elena"].id]))
    assert _share_notices(c["elena"]) == _share_notices(c["maria"]) == 1
    pair_services.leave_pair(c["elena"], c["pair"])
    assert _share_notices(c["elena"]) == _share_notices(c["maria"]) == 0


def test_a_deleted_shared_reflection_is_no_longer_announced(app):
    c = _cast(app)
    _, tasks = give_to_pair(c["ruth"], c["pair"])
    mine = submit(c["maria"], tasks[c["maria"].id])
    pair_services.share(c["maria"], mine)
    deletion.delete_reflection(c["ruth"], mine)
    assert _share_notices(c["elena"]) == 0


# --- 10. a restored reflection comes back unshared --------------------------------------------

def test_restoring_a_shared_reflection_does_not_share_it_again(app):
    c = _cast(app)
    _, tasks = give_to_pair(c["ruth"], c["pair"])
    mine = submit(c["maria"], tasks[c["maria"].id], answers=["RESTORED-WORDS"])
    pair_services.share(c["maria"], mine)
    ruth = signed_in(app, c["ruth"])
    assert ruth.post(f"/reflections/{mine.id}/delete").status_code == 302
    assert ruth.post(f"/reflections/{mine.id}/restore").status_code == 302
    db.session.expire_all()
    restored = db.session.get(Reflection, mine.id)
    assert restored.deleted_at is None and restored.shared_at is None
    elena = signed_in(app, c["elena"])
    assert "RESTORED-WORDS" not in text_of(elena.get("/shared"))
    assert elena.get(f"/reflections/{mine.id}").status_code == 404
    # the same through restoring its task
    pair_services.share(c["maria"], restored)
    assert ruth.post(f"/tasks/{restored.assignment_id}/delete").status_code == 302
    assert ruth.post(f"/tasks/{restored.assignment_id}/restore").status_code == 302
    db.session.expire_all()
    assert db.session.get(Reflection, mine.id).shared_at is None
    # and she can share it again herself
    page = unescape(signed_in(app, c["maria"]).get(f"/tasks/{restored.assignment_id}").get_data(as_text=True))
    assert f'action="/reflections/{mine.id}/share"' in page
