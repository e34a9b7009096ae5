"""Issue 16 (first part): whose turn it is, from each member's side; choosing who reads it in the
same step as sending; the reveal page. Through HTTP, as each kind of person."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Notification, Reflection
from app.pairs import services as pair_services
from tests.builders_homework import built_in, submit
from tests.builders_pairs import give_to_pair, link, signed_in, submit_form, text_of
from tests.conftest import make_client, make_therapist


@pytest.fixture
def cast(app):
    ruth, sam = make_therapist("Ruth"), make_therapist("Sam")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    olga, priya = make_client(ruth, "Olga"), make_client(sam, "Priya")
    pair = link(ruth, maria, elena, labels=("mother", "daughter"))
    pe, tasks = give_to_pair(ruth, pair, reveal_together=True)
    return dict(ruth=ruth, sam=sam, maria=maria, elena=elena, olga=olga, priya=priya, pair=pair,
                pe=pe, mtask=tasks[maria.id], etask=tasks[elena.id])


def _task_page(app, who, task) -> str:
    return text_of(signed_in(app, who).get(f"/tasks/{task.id}"))


# --- the states, from each side ---------------------------------------------------------------

def test_turns_as_a_table(app, cast):
    c = cast
    maria, elena = c["maria"], c["elena"]
    # nobody has sent
    assert f"{elena.name} has not shared a reflection on this exercise with you." in _task_page(app, maria, c["mtask"])
    # the mother sends and reveals together: the daughter's turn, the mother waits
    mine = submit(maria, c["mtask"], answers=["MOTHER-A"])
    pair_services.share(maria, mine)
    assert "Your turn. Your mother has answered — send yours to read" in _task_page(app, elena, c["etask"])
    waiting = _task_page(app, maria, c["mtask"])
    assert "You have answered." in waiting and "Your turn" not in waiting
    # both have sent and shared: both read the other, and the reveal is offered to each
    pair_services.share(elena, submit(elena, c["etask"], answers=["DAUGHTER-A"]))
    for who, task, words in ((maria, c["mtask"], "DAUGHTER-A"), (elena, c["etask"], "MOTHER-A")):
        page = _task_page(app, who, task)
        assert words in page and "Open the reveal" in page
    # the link ends: nothing is shared any more, and each page says so
    pair_services.leave_pair(elena, c["pair"])
    for who, task, words in ((maria, c["mtask"], "DAUGHTER-A"), (elena, c["etask"], "MOTHER-A")):
        page = _task_page(app, who, task)
        assert words not in page and "Open the reveal" not in page


def test_a_private_answer_stays_private_in_the_other_members_turn(app, cast):
    """She sent and kept it private: the other member is told nothing that is not true, and
    never that it exists."""
    c = cast
    submit(c["maria"], c["mtask"], answers=["KEPT-PRIVATE"])  # not shared
    page = _task_page(app, c["elena"], c["etask"])
    assert "KEPT-PRIVATE" not in page and "Your turn" not in page and "has answered" not in page


# --- choosing who reads it, when sending -----------------------------------------------------------

def _notices(user) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.kind == "partner_shared"))


def test_sending_with_reveal_together_shares_in_the_same_step(app, cast):
    c = cast
    maria = signed_in(app, c["maria"])
    page = maria.get(f"/tasks/{c['mtask'].id}").get_data(as_text=True)
    assert 'name="share_choice" value="share" checked' in page  # reveal together: the default
    response = maria.post(f"/tasks/{c['mtask'].id}", data={**submit_form("SENT-AND-SHARED"),
                                                           "share_choice": "share"})
    assert response.status_code == 302
    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == c["mtask"].id))
    assert reflection.status == "submitted" and reflection.shared_at is not None
    assert _notices(c["elena"]) == 1


def test_keeping_it_private_when_sending(app, cast):
    c = cast
    maria = signed_in(app, c["maria"])
    maria.post(f"/tasks/{c['mtask'].id}", data={**submit_form("SENT-PRIVATELY"), "share_choice": "private"})
    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == c["mtask"].id))
    assert reflection.status == "submitted" and reflection.shared_at is None
    assert _notices(c["elena"]) == 0


def test_an_unknown_choice_is_refused_and_loses_nothing(app, cast):
    c = cast
    maria = signed_in(app, c["maria"])
    response = maria.post(f"/tasks/{c['mtask'].id}", data={**submit_form("KEEP-THESE-WORDS"),
                                                           "share_choice": "everyone"})
    assert response.status_code == 400
    body = text_of(response)
    assert "Choose who may read it." in body and "KEEP-THESE-WORDS" in body
    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == c["mtask"].id))
    assert reflection is None or reflection.status == "draft"
    assert _notices(c["elena"]) == 0


def test_safety_exercises_offer_no_sharing_and_refuse_it(app, cast):
    c = cast
    _, tasks = give_to_pair(c["ruth"], c["pair"], exercise=built_in("safety"), reveal_together=True)
    maria = signed_in(app, c["maria"])
    task = tasks[c["maria"].id]
    page = maria.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'name="share_choice"' not in page
    maria.post(f"/tasks/{task.id}", data={**submit_form("SAFETY-WORDS"), "share_choice": "share"})
    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert reflection.status == "submitted" and reflection.shared_at is None
    assert _notices(c["elena"]) == 0


def test_two_members_sending_at_the_same_instant_end_revealed_once(app, cast):
    """Both choose reveal together and send at once: both are shared, each is told once."""
    c = cast
    browsers = {who: signed_in(app, c[who]) for who in ("maria", "elena")}
    tasks = {"maria": c["mtask"].id, "elena": c["etask"].id}
    barrier, statuses, errors = threading.Barrier(2), [], []

    def send(who):
        try:
            barrier.wait(timeout=10)
            statuses.append(browsers[who].post(f"/tasks/{tasks[who]}", data={
                **submit_form(f"SAME-INSTANT-{who}"), "share_choice": "share"}).status_code)
        except Exception as exc:  # a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(who,)) for who in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and statuses == [302, 302]
    db.session.expire_all()
    for who in browsers:
        r = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == tasks[who]))
        assert r.status == "submitted" and r.shared_at is not None
    assert _notices(c["maria"]) == _notices(c["elena"]) == 1
    for reader, other in (("maria", "elena"), ("elena", "maria")):
        reveal = browsers[reader].get(f"/pairs/exercises/{c['pe'].id}/reveal")
        assert reveal.status_code == 200 and f"SAME-INSTANT-{other}" in text_of(reveal)


# --- the reveal page ---------------------------------------------------------------------------

def test_the_reveal_opens_for_the_members_once_both_have_sent(app, cast):
    c = cast
    url = f"/pairs/exercises/{c['pe'].id}/reveal"
    mine = submit(c["maria"], c["mtask"], answers=["REVEAL-MOTHER"],
                  ratings={"resentment": 2, "closeness": 8, "stayed_present": "yes"})
    pair_services.share(c["maria"], mine)
    not_yet = signed_in(app, c["elena"]).get(url)
    assert not_yet.status_code == 409 and "REVEAL-MOTHER" not in text_of(not_yet)
    assert "Your turn" not in text_of(not_yet) or "send yours" in text_of(not_yet)
    pair_services.share(c["elena"], submit(c["elena"], c["etask"], answers=["REVEAL-DAUGHTER"],
                                           ratings={"resentment": 7, "closeness": 4, "stayed_present": "no"}))
    expected = {"maria": 200, "elena": 200, "ruth": 403, "olga": 404, "sam": 404, "priya": 404}
    for who, status in expected.items():
        response = signed_in(app, c[who]).get(url)
        assert response.status_code == status, who
        body = text_of(response)
        if status == 200:
            assert "REVEAL-MOTHER" in body and "REVEAL-DAUGHTER" in body
            assert "seen differently" in body  # resentment 2 against 7
        else:
            assert "REVEAL-MOTHER" not in body and "REVEAL-DAUGHTER" not in body
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert signed_in(app, c["maria"]).get("/pairs/exercises/999999/reveal").status_code == 404


def test_the_reveal_shows_nothing_the_other_kept_private(app, cast):
    c = cast
    pair_services.share(c["maria"], submit(c["maria"], c["mtask"], answers=["MINE-SHARED"]))
    submit(c["elena"], c["etask"], answers=["HERS-PRIVATE"])  # sent, kept private
    page = text_of(signed_in(app, c["maria"]).get(f"/pairs/exercises/{c['pe'].id}/reveal"))
    assert "HERS-PRIVATE" not in page and "kept this reflection private" in page
    hers = text_of(signed_in(app, c["elena"]).get(f"/pairs/exercises/{c['pe'].id}/reveal"))
    assert "MINE-SHARED" in hers and "HERS-PRIVATE" in hers
