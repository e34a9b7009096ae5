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
    assert "You have answered; waiting for" in waiting and "Your turn" not in waiting
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

def _notices(user, kinds=("partner_shared", "pair_turn", "pair_revealed")) -> int:
    """What she has been told about the other's sharing: a share, her turn, the reveal."""
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.kind.in_(kinds)))


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
    assert _notices(c["elena"]) == _notices(c["elena"], ["pair_turn"]) == 1  # her turn


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
    for who in ("maria", "elena"):  # the reveal, once each; no stale "your turn"
        assert _notices(c[who]) == _notices(c[who], ["pair_revealed"]) == 1, who
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


# --- after the reveal: replies and reactions -----------------------------------------------------

def _revealed(app, c):
    mine = submit(c["maria"], c["mtask"], answers=["MOTHER-R"])
    pair_services.share(c["maria"], mine)
    hers = submit(c["elena"], c["etask"], answers=["DAUGHTER-R"])
    pair_services.share(c["elena"], hers)
    return mine, hers


def _reply_count() -> int:
    from app.models import PairReply

    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(PairReply.id)))


def test_a_reply_and_a_reaction_after_the_reveal_reach_both_and_the_agenda(app, cast):
    from app.models import AgendaItem

    c = cast
    mine, hers = _revealed(app, c)
    url = f"/pairs/exercises/{c['pe'].id}/replies"
    elena = signed_in(app, c["elena"])
    assert elena.post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                 "body": "I MISS THEM TOO"}).status_code == 302
    assert elena.post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                 "reaction": "in_session"}).status_code == 302
    assert _reply_count() == 2
    for who in ("maria", "elena"):
        page = text_of(signed_in(app, c[who]).get(f"/pairs/exercises/{c['pe'].id}/reveal"))
        assert "I MISS THEM TOO" in page and "Let’s talk about this in session" in page
    items = db.session.scalars(sa.select(AgendaItem).where(AgendaItem.client_id == c["elena"].id)).all()
    assert len(items) == 1 and c["maria"].name in items[0].body
    assert db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == c["maria"].id, Notification.kind == "pair_reply")) == 2
    # their therapist reads them on the pair page; another therapist never
    pair_page = text_of(signed_in(app, c["ruth"]).get(f"/pairs/{c['pair'].id}"))
    assert "After the reveal" in pair_page and "I MISS THEM TOO" in pair_page
    assert signed_in(app, c["sam"]).get(f"/pairs/{c['pair'].id}").status_code == 404


def test_replies_are_refused_before_the_reveal_and_to_anyone_else(app, cast):
    c = cast
    url = f"/pairs/exercises/{c['pe'].id}/replies"
    mine = submit(c["maria"], c["mtask"], answers=["ONLY-MINE-SENT"])
    pair_services.share(c["maria"], mine)
    # before the reveal (Elena has not sent): she may not even see it, so it is not found
    assert signed_in(app, c["elena"]).post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                                      "body": "TOO EARLY"}).status_code == 404
    hers = submit(c["elena"], c["etask"], answers=["NOW-BOTH"])
    pair_services.share(c["elena"], hers)
    # to her own answer, by the therapist, by another client, anonymous: refused
    assert signed_in(app, c["maria"]).post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                                      "body": "TO MYSELF"}).status_code == 403
    assert signed_in(app, c["ruth"]).post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                                     "body": "THERAPIST"}).status_code == 403
    assert signed_in(app, c["olga"]).post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                                     "body": "STRANGER"}).status_code == 404
    assert app.test_client().post(url, data={"reflection_id": mine.id, "prompt_index": 0,
                                             "body": "ANON"}).status_code == 302
    # a reaction that is not offered, a question that does not exist: a clear refusal
    elena = signed_in(app, c["elena"])
    bad = elena.post(url, data={"reflection_id": mine.id, "prompt_index": 0, "reaction": "whatever"})
    assert bad.status_code == 400 and "Choose one of the reactions offered." in text_of(bad)
    bad = elena.post(url, data={"reflection_id": mine.id, "prompt_index": 99, "body": "WHERE"})
    assert bad.status_code == 400 and "not part of this exercise" in text_of(bad)
    long = elena.post(url, data={"reflection_id": mine.id, "prompt_index": 0, "body": "W " * 700})
    assert long.status_code == 400 and "W W W" in text_of(long)  # her text is still there
    assert _reply_count() == 0


def test_a_reply_corrected_after_a_refusal_is_sent_with_the_same_form_key(app, cast):
    """The refused form comes back with its one-time key (nothing was made); the corrected
    reply, posted with it, is stored: a refusal never spends the key."""
    c = cast
    mine, _ = _revealed(app, c)
    url = f"/pairs/exercises/{c['pe'].id}/replies"
    elena = signed_in(app, c["elena"])
    key = "corrected-reply-key-0001"
    long = elena.post(url, data={"reflection_id": mine.id, "prompt_index": 0, "body": "W " * 700,
                                 "once": key})
    assert long.status_code == 400 and f'value="{key}"' in long.get_data(as_text=True)
    sent = elena.post(url, data={"reflection_id": mine.id, "prompt_index": 0, "body": "SHORTER NOW",
                                 "once": key})
    assert sent.status_code == 302
    assert _reply_count() == 1


def test_a_reply_is_changed_for_ten_minutes_and_withdrawn_at_any_time(app, cast):
    from datetime import timedelta

    from app.models import PairReply

    c = cast
    mine, _ = _revealed(app, c)
    elena = signed_in(app, c["elena"])
    elena.post(f"/pairs/exercises/{c['pe'].id}/replies",
               data={"reflection_id": mine.id, "prompt_index": 0, "body": "FIRST WORDS"})
    reply = db.session.scalar(sa.select(PairReply))
    assert elena.post(f"/pairs/replies/{reply.id}/edit", data={"body": "BETTER WORDS"}).status_code == 302
    assert signed_in(app, c["maria"]).post(f"/pairs/replies/{reply.id}/edit",
                                           data={"body": "NOT HERS"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(PairReply, reply.id).body == "BETTER WORDS"
    # eleven minutes later: no more changes, but withdrawing still works
    db.session.get(PairReply, reply.id).created_at -= timedelta(minutes=11)
    db.session.commit()
    late = elena.post(f"/pairs/replies/{reply.id}/edit", data={"body": "TOO LATE"}, follow_redirects=True)
    assert "can be changed for 10 minutes" in text_of(late)
    assert elena.post(f"/pairs/replies/{reply.id}/withdraw").status_code == 302
    for who in ("maria", "elena"):
        page = text_of(signed_in(app, c[who]).get(f"/pairs/exercises/{c['pe'].id}/reveal"))
        assert "BETTER WORDS" not in page


# --- repeating pair tasks ------------------------------------------------------------------------

def test_a_pair_exercise_repeats_each_time_with_its_own_turns_and_reveal(app, cast):
    from app.core.clock import today_for
    from app.models import Assignment, PairExercise

    c = cast
    ruth = signed_in(app, c["ruth"])
    exercise = built_in("stay_present")
    today = max(today_for(c["maria"]), today_for(c["elena"]))
    before = db.session.scalar(sa.select(sa.func.count(PairExercise.id)))
    response = ruth.post(f"/pairs/{c['pair'].id}/assign", data={
        "exercise_id": exercise.id, "due_date": today.isoformat(), "reveal_together": "y",
        "repeat": "weekly", "times": "3"}, follow_redirects=True)
    assert response.status_code == 200 and "given to both, 3 times" in text_of(response)
    db.session.expire_all()
    given = db.session.scalars(sa.select(PairExercise).order_by(PairExercise.id.desc()).limit(3)).all()
    assert db.session.scalar(sa.select(sa.func.count(PairExercise.id))) == before + 3
    for pe in given:
        assert pe.reveal_together and sorted(t.client_id for t in pe.tasks) == sorted([c["maria"].id, c["elena"].id])
    dues = sorted({t.due_date for pe in given for t in pe.tasks})
    assert [(d - today).days for d in dues] == [0, 7, 14]
    for who in ("maria", "elena"):
        mine = db.session.scalars(sa.select(Assignment).where(
            Assignment.client_id == c[who].id, Assignment.pair_exercise_id.in_([pe.id for pe in given]))
            .order_by(Assignment.due_date)).all()
        assert [t.occurrence for t in mine] == [1, 2, 3] and {t.occurrences for t in mine} == {3}
        assert len({t.series_key for t in mine}) == 1 and mine[0].series_key
    assert "1 of 3" in text_of(signed_in(app, c["maria"]).get("/home"))
    # the first time revealed does not reveal the second
    first = min(given, key=lambda pe: pe.tasks[0].due_date)
    tasks = {t.client_id: t for t in first.tasks}
    for who in ("maria", "elena"):
        pair_services.share(c[who], submit(c[who], tasks[c[who].id], answers=[f"FIRST-{who}"]))
    second = sorted(given, key=lambda pe: pe.tasks[0].due_date)[1]
    assert signed_in(app, c["maria"]).get(f"/pairs/exercises/{first.id}/reveal").status_code == 200
    assert signed_in(app, c["maria"]).get(f"/pairs/exercises/{second.id}/reveal").status_code == 409


def test_a_repeat_out_of_range_is_refused_and_nothing_is_given(app, cast):
    from app.core.clock import today_for
    from app.models import PairExercise

    c = cast
    before = db.session.scalar(sa.select(sa.func.count(PairExercise.id)))
    today = max(today_for(c["maria"]), today_for(c["elena"]))
    for repeat, times in (("weekly", "40"), ("hourly", "2"), ("weekly", "0")):
        response = signed_in(app, c["ruth"]).post(f"/pairs/{c['pair'].id}/assign", data={
            "exercise_id": built_in("stay_present").id, "due_date": today.isoformat(),
            "repeat": repeat, "times": times})
        assert response.status_code == 200, (repeat, times)  # the form again, with the reason
        assert "Choose 1 to 12 times." in text_of(response) or "Not a valid choice" in text_of(response)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(PairExercise.id))) == before
