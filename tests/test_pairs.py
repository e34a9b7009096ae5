"""Pairs through the HTTP layer: consented linking, leaving and dissolving, pair exercises in
each member's own wording, sharing and withdrawing, reveal together (and its race), the
therapist's side-by-side page, and what those pages cost in SQL statements."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.extensions import db
from app.models import Assignment, AuditEvent, Pair, PairExercise, Reflection
from app.pairs import services as pair_services
from tests.builders_homework import assign, built_in, save_draft, submit
from tests.builders_pairs import (
    audit_count,
    flashes,
    give_to_pair,
    link,
    signed_in,
    snapshot,
    submit_form,
    text_of,
)
from tests.conftest import make_client

GROWING_UP_MOTHER = "What are you afraid of losing as she grows up?"
GROWING_UP_DAUGHTER = "What are you afraid of never getting from her, or of having to give up?"


@pytest.fixture
def cast(app, people):
    """Ruth's clients Maria and Anna (to be paired) and Elena; Sam and his client Priya."""
    return {**people, "anna": make_client(people["therapist"], "Anna"),
            "maria": people["client"], "elena": people["other_client_same_therapist"]}


@pytest.fixture
def linked(cast):
    """Maria (mother) and Anna (daughter), linked with both members' consent."""
    cast["pair"] = link(cast["therapist"], cast["maria"], cast["anna"])
    return cast


def pair_rows() -> list[Pair]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Pair).order_by(Pair.id)))


# --- linking ---------------------------------------------------------------------------------

def propose(browser, first, second, first_label="mother", second_label="daughter"):
    return browser.post("/pairs/new", data={
        "first_id": str(first if isinstance(first, (int, str)) else first.id), "first_label": first_label,
        "second_id": str(second if isinstance(second, (int, str)) else second.id),
        "second_label": second_label})


def test_a_proposed_link_is_pending_and_both_members_see_it_on_their_home(app, cast):
    ruth = signed_in(app, cast["therapist"])
    response = propose(ruth, cast["maria"], cast["anna"], "Mother", "daughter")
    [pair] = pair_rows()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pairs/{pair.id}")
    assert pair.therapist_id == cast["therapist"].id and pair.ended_at is None
    assert pair.is_pending and not pair.is_active
    assert [(m.user_id, m.label, m.accepted_at) for m in pair.members] == [
        (cast["maria"].id, "mother", None), (cast["anna"].id, "daughter", None)]
    assert "waiting for" in text_of(ruth.get(f"/pairs/{pair.id}"))

    for me, partner in (("maria", "anna"), ("anna", "maria")):
        home = signed_in(app, cast[me]).get("/home")
        page = text_of(home)
        assert f"proposes linking you with {cast[partner].name}" in page
        html = home.get_data(as_text=True)
        assert f'action="/pairs/{pair.id}/accept"' in html and f'action="/pairs/{pair.id}/decline"' in html
        assert ">Accept</button>" in html and ">Decline</button>" in html
    # Nobody else hears about it.
    assert "proposes linking" not in text_of(signed_in(app, cast["elena"]).get("/home"))


def test_the_link_takes_effect_only_when_both_have_accepted(app, linked_pending):
    c, pair = linked_pending, linked_pending["pair"]
    maria, anna = signed_in(app, c["maria"]), signed_in(app, c["anna"])

    response = maria.post(f"/pairs/{pair.id}/accept", follow_redirects=True)
    assert response.status_code == 200
    assert "The link is active once both of you have accepted" in " ".join(flashes(response))
    [pair] = pair_rows()
    assert pair.member_for(c["maria"].id).accepted_at is not None and not pair.is_active
    # Accepted by one only: she waits, the other is still asked, nothing can be given to both.
    assert f"waiting for {c['anna'].name} to accept" in text_of(maria.get("/home"))
    assert "proposes linking you with" in text_of(anna.get("/home"))
    assert "not linked with anyone" in text_of(maria.get("/shared"))
    # Her answer is given once.
    again = maria.post(f"/pairs/{pair.id}/accept", follow_redirects=True)
    assert "nothing waiting for your answer" in " ".join(flashes(again))

    anna.post(f"/pairs/{pair.id}/accept")
    [pair] = pair_rows()
    assert pair.is_active
    assert f"Linked with {c['anna'].name} (daughter)" in text_of(maria.get("/home"))
    assert f"Linked with {c['maria'].name} (mother)" in text_of(anna.get("/home"))
    assert "linked" in text_of(signed_in(app, c["therapist"]).get(f"/pairs/{pair.id}"))
    assert audit_count("pair_accepted", object_id=pair.id) == 2


@pytest.fixture
def linked_pending(cast):
    cast["pair"] = link(cast["therapist"], cast["maria"], cast["anna"], accepted_by=())
    return cast


@pytest.mark.parametrize("decliner", ["maria", "anna"])
def test_declining_ends_the_proposal(app, linked_pending, decliner):
    c, pair = linked_pending, linked_pending["pair"]
    other = "anna" if decliner == "maria" else "maria"
    signed_in(app, c[other]).post(f"/pairs/{pair.id}/accept")
    response = signed_in(app, c[decliner]).post(f"/pairs/{pair.id}/decline", follow_redirects=True)
    assert "You declined the link" in " ".join(flashes(response))
    [pair] = pair_rows()
    assert pair.ended_at is not None and pair.end_reason == "declined"
    assert pair.ended_by_id == c[decliner].id and not pair.is_active
    for who in (decliner, other):
        assert "proposes linking" not in text_of(signed_in(app, c[who]).get("/home"))
    # The other cannot revive it by accepting now.
    late = signed_in(app, c[other]).post(f"/pairs/{pair.id}/accept", follow_redirects=True)
    assert "nothing waiting for your answer" in " ".join(flashes(late))
    assert not pair_rows()[0].is_active
    # Both are free to be linked again later.
    propose(signed_in(app, c["therapist"]), c["maria"], c["anna"])
    assert len(pair_rows()) == 2


@pytest.mark.parametrize("state", ["pending", "active"])
@pytest.mark.parametrize("who", ["first", "second"])
def test_a_client_already_in_a_pair_cannot_be_linked_again(app, cast, state, who):
    c = cast
    link(c["therapist"], c["maria"], c["anna"], accepted_by=() if state == "pending" else ("first", "second"))
    before = snapshot()
    ruth = signed_in(app, c["therapist"])
    pair_args = (c["maria"], c["elena"]) if who == "first" else (c["elena"], c["maria"])
    response = propose(ruth, *pair_args)
    assert response.status_code == 200
    # The message sits under the field that names her, so the therapist knows which to change.
    field = "first_id" if who == "first" else "second_id"
    assert f"{c['maria'].name} is already in a pair" in field_error(response, field)
    assert snapshot() == before


def field_error(response, field: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r'<div class="error" id="%s-error">(.*?)</div>' % field, html, re.DOTALL)
    return text_of_html(match.group(1)) if match else ""


def unescape_text(html):
    from html import unescape
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("case", ["other_therapists_client", "no_such_id", "same_client_twice",
                                  "not_a_number", "her_own_therapist", "closed_account"])
def test_an_id_that_is_not_one_of_her_clients_is_refused_with_a_clear_message(app, cast, case):
    c = cast
    first, second = c["maria"].id, {
        "other_therapists_client": c["other_client"].id,
        "no_such_id": 987654321,
        "same_client_twice": c["maria"].id,
        "not_a_number": "anna",
        "her_own_therapist": c["therapist"].id,
        "closed_account": c["anna"].id,
    }[case]
    if case == "closed_account":
        from app.models import utcnow
        c["anna"].closed_at = utcnow()
        db.session.commit()
    before = snapshot()
    response = propose(signed_in(app, c["therapist"]), first, second)
    assert response.status_code == 200
    page = text_of(response)
    expected = {"same_client_twice": "Choose two different clients."}.get(
        case, "Choose one of your own clients." if case != "closed_account" else "Choose two of your own clients.")
    assert expected in field_error(response, "second_id"), page
    assert snapshot() == before
    # The other therapist's client's name is not echoed back anywhere.
    assert c["other_client"].name not in page


def test_only_a_therapist_links_clients(app, cast):
    before = snapshot()
    maria = signed_in(app, cast["maria"])
    assert maria.get("/pairs/new").status_code == 403
    assert propose(maria, cast["maria"], cast["anna"]).status_code == 403
    anonymous = propose(signed_in(app, None), cast["maria"], cast["anna"])
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    # Sam (with two clients of his own) cannot link Ruth's clients: not in his list.
    make_client(cast["other_therapist"], "Lena")
    before = snapshot()
    sam = propose(signed_in(app, cast["other_therapist"]), cast["maria"], cast["anna"])
    assert "Choose one of your own clients." in text_of(sam)
    assert snapshot() == before


def test_nobody_outside_the_pair_can_see_or_act_on_it(app, linked_pending):
    c, pair = linked_pending, linked_pending["pair"]
    before = snapshot()
    for outsider in ("elena", "other_client", "other_therapist"):
        browser = signed_in(app, c[outsider])
        assert browser.get(f"/pairs/{pair.id}").status_code == 404, outsider
        for action in ("accept", "decline", "leave", "dissolve", "assign"):
            assert browser.post(f"/pairs/{pair.id}/{action}").status_code == 404, (outsider, action)
    # Members cannot dissolve or assign; the therapist cannot accept or leave for them.
    maria = signed_in(app, c["maria"])
    assert maria.post(f"/pairs/{pair.id}/dissolve").status_code == 403
    assert maria.get(f"/pairs/{pair.id}/assign").status_code == 403
    ruth = signed_in(app, c["therapist"])
    for action in ("accept", "decline", "leave"):
        assert ruth.post(f"/pairs/{pair.id}/{action}").status_code == 403
    assert snapshot() == before


def _both_share(c, reveal_together=False):
    """A pair exercise on which both have sent and shared a reflection."""
    pe, tasks = give_to_pair(c["therapist"], c["pair"], reveal_together=reveal_together)
    words = {}
    for who in ("maria", "anna"):
        words[who] = f"{who.upper()}-WORDS-7f3a"
        r = submit(c[who], tasks[c[who].id], [words[who]])
        pair_services.share(c[who], r)
        words[who + "_reflection"] = r.id
        words[who + "_task"] = tasks[c[who].id].id
    return words


def _sees(browser, words, whose, task_of_reader) -> dict:
    """Where the reader finds `whose` words: /reflections/<id>, /shared and her own task page."""
    sentinel = words[whose]
    direct = browser.get(f"/reflections/{words[whose + '_reflection']}")
    return {
        "reflection": direct.status_code == 200 and sentinel in text_of(direct),
        "shared": sentinel in text_of(browser.get("/shared")),
        "task": sentinel in text_of(browser.get(f"/tasks/{words[task_of_reader + '_task']}")),
    }


ALL = {"reflection": True, "shared": True, "task": True}
NONE = {"reflection": False, "shared": False, "task": False}


@pytest.mark.parametrize("ender,action,reason", [
    ("maria", "leave", "left"), ("anna", "leave", "left"), ("therapist", "dissolve", "dissolved")])
def test_when_the_pair_ends_each_loses_access_at_once(app, linked, ender, action, reason):
    c = linked
    words = _both_share(c)
    maria, anna = signed_in(app, c["maria"]), signed_in(app, c["anna"])
    assert _sees(maria, words, "anna", "maria") == ALL
    assert _sees(anna, words, "maria", "anna") == ALL

    response = signed_in(app, c[ender]).post(f"/pairs/{c['pair'].id}/{action}", follow_redirects=True)
    assert response.status_code == 200
    assert any("Neither" in f or "Nothing either shared" in f for f in flashes(response))
    [pair] = pair_rows()
    assert pair.end_reason == reason and pair.ended_by_id == c[ender].id and pair.ended_at

    assert _sees(maria, words, "anna", "maria") == NONE
    assert _sees(anna, words, "maria", "anna") == NONE
    assert maria.get(f"/reflections/{words['anna_reflection']}").status_code == 404
    assert "not linked with anyone" in text_of(anna.get("/shared"))
    # Each still has her own words, and the therapist still has both.
    assert words["maria"] in text_of(maria.get(f"/tasks/{words['maria_task']}"))
    page = text_of(signed_in(app, c["therapist"]).get(f"/pairs/{pair.id}"))
    assert words["maria"] in page and words["anna"] in page


def test_relinking_after_an_end_does_not_silently_share_again(app, linked):
    """What was shared in an ended pair is not shown to whoever she is linked with next."""
    c = linked
    words = _both_share(c)
    signed_in(app, c["maria"]).post(f"/pairs/{c['pair'].id}/leave")
    # Maria is now linked with Elena; Anna with nobody.
    link(c["therapist"], c["maria"], c["elena"], labels=("sister", "sister"))
    elena = signed_in(app, c["elena"])
    assert words["maria"] not in text_of(elena.get("/shared"))
    assert elena.get(f"/reflections/{words['maria_reflection']}").status_code == 404


def test_a_member_cannot_leave_twice_and_a_dissolved_pair_cannot_be_dissolved_again(app, linked):
    c, pair = linked, linked["pair"]
    ruth = signed_in(app, c["therapist"])
    ruth.post(f"/pairs/{pair.id}/dissolve")
    again = ruth.post(f"/pairs/{pair.id}/dissolve", follow_redirects=True)
    assert "already ended" in " ".join(flashes(again))
    left = signed_in(app, c["maria"]).post(f"/pairs/{pair.id}/leave", follow_redirects=True)
    assert "not in this pair any more" in " ".join(flashes(left))
    [pair] = pair_rows()
    assert pair.end_reason == "dissolved" and pair.ended_by_id == c["therapist"].id


# --- pair exercises --------------------------------------------------------------------------

def _assign_form(exercise, reveal_together=True, note="Try it this week, each on your own."):
    from datetime import date, timedelta
    data = {"exercise_id": str(exercise.id), "due_date": (date.today() + timedelta(days=3)).isoformat(),
            "note": note}
    if reveal_together:
        data["reveal_together"] = "y"
    return data


def test_assigning_to_a_pair_gives_each_member_her_own_task(app, linked):
    c, pair = linked, linked["pair"]
    exercise = built_in("stay_present")
    ruth = signed_in(app, c["therapist"])
    form = _assign_form(exercise)
    response = ruth.post(f"/pairs/{pair.id}/assign", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pairs/{pair.id}")
    db.session.expire_all()
    [pe] = db.session.scalars(sa.select(PairExercise)).all()
    assert pe.pair_id == pair.id and pe.reveal_together is True and pe.title == exercise.title
    tasks = db.session.scalars(sa.select(Assignment).order_by(Assignment.id)).all()
    assert sorted(t.client_id for t in tasks) == sorted([c["maria"].id, c["anna"].id])
    for task in tasks:
        assert task.pair_exercise_id == pe.id and task.exercise_id == exercise.id
        assert task.note == form["note"] and task.due_date.isoformat() == form["due_date"]
        assert task.status == "open" and task.therapist_id == c["therapist"].id
    for who in ("maria", "anna"):
        task = next(t for t in tasks if t.client_id == c[who].id)
        page = text_of(signed_in(app, c[who]).get(f"/tasks/{task.id}"))
        assert exercise.title in page and form["note"] in page
        # reveal together, nobody has sent: nothing of the other's yet, and no false "waiting"
        assert "has not shared a reflection on this exercise with you" in page
        assert "Your turn" not in page
    # Without the box ticked, reveal together is off.
    ruth.post(f"/pairs/{pair.id}/assign", data=_assign_form(exercise, reveal_together=False))
    db.session.expire_all()
    assert [p.reveal_together for p in db.session.scalars(sa.select(PairExercise).order_by(PairExercise.id))] \
        == [True, False]


def test_growing_up_gives_the_mother_and_the_daughter_their_own_wording(app, linked):
    c, pair = linked, linked["pair"]
    exercise = built_in("growing_up")
    assert exercise.member_prompts and set(exercise.member_prompts) >= {"mother", "daughter"}
    signed_in(app, c["therapist"]).post(f"/pairs/{pair.id}/assign", data=_assign_form(exercise))
    db.session.expire_all()
    tasks = {t.client_id: t for t in db.session.scalars(sa.select(Assignment))}
    assert tasks[c["maria"].id].prompts == exercise.member_prompts["mother"]
    assert tasks[c["anna"].id].prompts == exercise.member_prompts["daughter"]
    maria_page = text_of(signed_in(app, c["maria"]).get(f"/tasks/{tasks[c['maria'].id].id}"))
    anna_page = text_of(signed_in(app, c["anna"]).get(f"/tasks/{tasks[c['anna'].id].id}"))
    assert GROWING_UP_MOTHER in maria_page and GROWING_UP_DAUGHTER not in maria_page
    assert GROWING_UP_DAUGHTER in anna_page and GROWING_UP_MOTHER not in anna_page


def test_a_relation_without_its_own_wording_gets_the_common_prompts(app, cast):
    c = cast
    pair = link(c["therapist"], c["maria"], c["anna"], labels=("sister", "sister"))
    exercise = built_in("growing_up")
    signed_in(app, c["therapist"]).post(f"/pairs/{pair.id}/assign", data=_assign_form(exercise))
    db.session.expire_all()
    for task in db.session.scalars(sa.select(Assignment)):
        assert task.prompts == exercise.prompts


@pytest.mark.parametrize("state", ["nobody_accepted", "one_accepted", "ended"])
def test_assigning_before_both_accept_is_refused_and_creates_nothing(app, cast, state):
    c = cast
    pair = link(c["therapist"], c["maria"], c["anna"],
                accepted_by={"nobody_accepted": (), "one_accepted": ("first",),
                             "ended": ("first", "second")}[state])
    if state == "ended":
        pair_services.dissolve_pair(c["therapist"], pair)
    before = snapshot()
    ruth = signed_in(app, c["therapist"])
    for method in ("get", "post"):
        response = getattr(ruth, method)(f"/pairs/{pair.id}/assign",
                                         data=_assign_form(built_in("stay_present")))
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/pairs/{pair.id}")
    followed = ruth.post(f"/pairs/{pair.id}/assign", data=_assign_form(built_in("stay_present")),
                         follow_redirects=True)
    expected = "This pair has ended." if state == "ended" else "once both members have accepted"
    assert any(expected in f for f in flashes(followed))
    assert snapshot() == before
    assert snapshot()["pair_exercises"] == [] and snapshot()["tasks"] == []


# --- sharing ---------------------------------------------------------------------------------

@pytest.fixture
def sent(linked):
    """A pair exercise (no reveal together) on which both have sent a reflection, unshared."""
    c = linked
    pe, tasks = give_to_pair(c["therapist"], c["pair"])
    c["maria_task"], c["anna_task"] = tasks[c["maria"].id], tasks[c["anna"].id]
    c["maria_reflection"] = submit(c["maria"], c["maria_task"], ["MARIA-PRIVATE-WORDS-11"])
    c["anna_reflection"] = submit(c["anna"], c["anna_task"], ["ANNA-WORDS-22"])
    return c


def test_a_reflection_is_private_by_default(app, sent):
    c = sent
    assert c["maria_reflection"].shared_at is None
    anna = signed_in(app, c["anna"])
    assert anna.get(f"/reflections/{c['maria_reflection'].id}").status_code == 404
    assert "MARIA-PRIVATE-WORDS-11" not in text_of(anna.get("/shared"))
    page = text_of(anna.get(f"/tasks/{c['anna_task'].id}"))
    assert "MARIA-PRIVATE-WORDS-11" not in page
    assert f"{c['maria'].name} has not shared a reflection on this exercise with you" in page
    # Her own page says so, and offers to share.
    own = signed_in(app, c["maria"]).get(f"/tasks/{c['maria_task'].id}")
    assert "Private: only you and" in text_of(own)
    assert f'action="/reflections/{c["maria_reflection"].id}/share"' in own.get_data(as_text=True)


def test_the_author_shares_and_withdraws_and_the_partner_loses_access_at_once(app, sent):
    c = sent
    rid = c["maria_reflection"].id
    maria, anna = signed_in(app, c["maria"]), signed_in(app, c["anna"])
    response = maria.post(f"/reflections/{rid}/share", follow_redirects=True)
    assert f"Shared with {c['anna'].name}. You can stop sharing" in " ".join(flashes(response))
    assert f"Shared with {c['anna'].name}" in text_of(response)
    db.session.expire_all()
    assert db.session.get(Reflection, rid).shared_at is not None
    assert audit_count("reflection_shared", object_id=rid) == 1

    reading = anna.get(f"/reflections/{rid}")
    assert reading.status_code == 200 and "MARIA-PRIVATE-WORDS-11" in text_of(reading)
    assert "MARIA-PRIVATE-WORDS-11" in text_of(anna.get("/shared"))
    assert "MARIA-PRIVATE-WORDS-11" in text_of(anna.get(f"/tasks/{c['anna_task'].id}"))

    response = maria.post(f"/reflections/{rid}/unshare", follow_redirects=True)
    assert "No longer shared" in " ".join(flashes(response))
    db.session.expire_all()
    assert db.session.get(Reflection, rid).shared_at is None
    assert anna.get(f"/reflections/{rid}").status_code == 404
    assert "MARIA-PRIVATE-WORDS-11" not in text_of(anna.get("/shared"))
    assert "MARIA-PRIVATE-WORDS-11" not in text_of(anna.get(f"/tasks/{c['anna_task'].id}"))
    # Withdrawing twice says so and changes nothing.
    before = snapshot()
    again = maria.post(f"/reflections/{rid}/unshare", follow_redirects=True)
    assert "not shared" in " ".join(flashes(again))
    assert snapshot() == before


def test_a_safety_reflection_can_never_be_shared(app, linked):
    c = linked
    pe, tasks = give_to_pair(c["therapist"], c["pair"], exercise=built_in("safety"))
    reflection = submit(c["maria"], tasks[c["maria"].id], ["SAFETY-WORDS-33"])
    maria = signed_in(app, c["maria"])
    page = maria.get(f"/tasks/{reflection.assignment_id}")
    assert "They cannot be shared" in text_of(page)
    assert "/share\"" not in page.get_data(as_text=True)
    before = snapshot()
    response = maria.post(f"/reflections/{reflection.id}/share", follow_redirects=True)
    assert any("safety and boundaries are only ever for your therapist" in f for f in flashes(response))
    assert snapshot() == before
    anna = signed_in(app, c["anna"])
    assert anna.get(f"/reflections/{reflection.id}").status_code == 404
    assert "SAFETY-WORDS-33" not in text_of(anna.get("/shared"))
    assert "SAFETY-WORDS-33" not in text_of(anna.get(f"/tasks/{tasks[c['anna'].id].id}"))


def test_sharing_before_the_link_is_accepted_is_refused(app, cast):
    c = cast
    link(c["therapist"], c["maria"], c["anna"], accepted_by=("first",))
    reflection = submit(c["maria"], assign(c["therapist"], c["maria"]), ["EARLY-WORDS-44"])
    before = snapshot()
    response = signed_in(app, c["maria"]).post(f"/reflections/{reflection.id}/share",
                                                follow_redirects=True)
    assert any("once both of you have accepted the link" in f for f in flashes(response))
    assert snapshot() == before
    assert audit_count("reflection_shared") == 0


def test_sharing_a_draft_is_refused(app, linked):
    c = linked
    pe, tasks = give_to_pair(c["therapist"], c["pair"])
    draft = save_draft(c["maria"], tasks[c["maria"].id], ["DRAFT-WORDS-55"])
    before = snapshot()
    response = signed_in(app, c["maria"]).post(f"/reflections/{draft.id}/share", follow_redirects=True)
    assert any("Send your reflection first" in f for f in flashes(response))
    assert snapshot() == before
    anna = signed_in(app, c["anna"])
    assert anna.get(f"/reflections/{draft.id}").status_code == 404
    assert "DRAFT-WORDS-55" not in text_of(anna.get(f"/tasks/{tasks[c['anna'].id].id}"))


def test_nobody_shares_or_withdraws_someone_elses_reflection(app, sent):
    c = sent
    mine, shared = c["maria_reflection"], c["anna_reflection"]
    pair_services.share(c["anna"], shared)
    before = snapshot()
    # Maria can read Anna's shared reflection, but not act on it.
    maria = signed_in(app, c["maria"])
    # (403, not 404: she may see it, so the answer reveals nothing she does not know.)
    assert maria.post(f"/reflections/{shared.id}/unshare").status_code == 403
    assert maria.post(f"/reflections/{shared.id}/share").status_code == 403
    # Anna cannot share Maria's private one, which she cannot even see.
    anna = signed_in(app, c["anna"])
    assert anna.post(f"/reflections/{mine.id}/share").status_code == 404
    for outsider in ("elena", "other_client", "other_therapist"):
        browser = signed_in(app, c[outsider])
        for rid in (mine.id, shared.id):
            for verb in ("share", "unshare"):
                assert browser.post(f"/reflections/{rid}/{verb}").status_code == 404, (outsider, verb)
    ruth = signed_in(app, c["therapist"])
    assert ruth.post(f"/reflections/{mine.id}/share").status_code == 403
    assert ruth.post(f"/reflections/{shared.id}/unshare").status_code == 403
    assert snapshot() == before


def test_a_forgiveness_letter_stays_private_unless_the_author_decides(app, linked):
    c = linked
    pe, tasks = give_to_pair(c["therapist"], c["pair"], exercise=built_in("forgiveness_letter"))
    letter = submit(c["maria"], tasks[c["maria"].id], ["LETTER-WORDS-66"])
    anna = signed_in(app, c["anna"])
    assert anna.get(f"/reflections/{letter.id}").status_code == 404
    signed_in(app, c["maria"]).post(f"/reflections/{letter.id}/share")
    assert "LETTER-WORDS-66" in text_of(anna.get(f"/reflections/{letter.id}"))


# --- reveal together -------------------------------------------------------------------------

def test_reveal_together_waits_for_both_then_shows_each_the_others_words(app, linked):
    c = linked
    pe, tasks = give_to_pair(c["therapist"], c["pair"], reveal_together=True)
    maria_task, anna_task = tasks[c["maria"].id], tasks[c["anna"].id]
    maria, anna = signed_in(app, c["maria"]), signed_in(app, c["anna"])

    assert maria.post(f"/tasks/{maria_task.id}", data=submit_form("MARIA-REVEAL-1")).status_code == 302
    db.session.expire_all()
    maria_reflection = db.session.get(Assignment, maria_task.id).reflection
    response = maria.post(f"/reflections/{maria_reflection.id}/share", follow_redirects=True)
    assert f"{c['anna'].name} reads it once you have both sent yours" in text_of(response)

    # Anna has not sent hers: she sees that something waits, and nothing of it.
    page = text_of(anna.get(f"/tasks/{anna_task.id}"))
    assert "Your turn." in page and "MARIA-REVEAL-1" not in page
    shared = text_of(anna.get("/shared"))
    assert "your turn" in shared and pe.title in shared
    assert "MARIA-REVEAL-1" not in shared
    assert anna.get(f"/reflections/{maria_reflection.id}").status_code == 404
    assert f"You have answered; waiting for {c['anna'].name}." in text_of(maria.get(f"/tasks/{maria_task.id}"))
    assert audit_count("read_partner_reflection") == 0

    # A draft is not "sent": still waiting.
    anna.post(f"/tasks/{anna_task.id}", data=submit_form("ANNA-REVEAL-2", action="save"))
    assert "MARIA-REVEAL-1" not in text_of(anna.get(f"/tasks/{anna_task.id}"))
    assert anna.get(f"/reflections/{maria_reflection.id}").status_code == 404

    assert anna.post(f"/tasks/{anna_task.id}", data=submit_form("ANNA-REVEAL-2")).status_code == 302
    db.session.expire_all()
    anna_reflection = db.session.get(Assignment, anna_task.id).reflection
    anna.post(f"/reflections/{anna_reflection.id}/share")

    maria_name, anna_name = c["maria"].name, c["anna"].name
    for reader, task, words, author_name, label, rid in (
            (anna, anna_task, "MARIA-REVEAL-1", maria_name, "mother", maria_reflection.id),
            (maria, maria_task, "ANNA-REVEAL-2", anna_name, "daughter", anna_reflection.id)):
        page = text_of(reader.get(f"/tasks/{task.id}"))
        assert words in page and f"{author_name}’s words" in page
        shared = text_of(reader.get("/shared"))
        assert words in shared and f"{author_name}’s words ({label})" in shared
        assert "waiting for your partner" not in shared
        direct = reader.get(f"/reflections/{rid}")
        assert direct.status_code == 200
        assert words in text_of(direct) and f"{author_name}’s words ({label})" in text_of(direct)

    db.session.expire_all()
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "read_partner_reflection", AuditEvent.object_id == maria_reflection.id)).all()
    assert events and all(e.actor_id == c["anna"].id and e.subject_id == c["maria"].id
                          and e.object_type == "Reflection" for e in events)
    before = len(events)
    anna.get(f"/reflections/{maria_reflection.id}")
    assert audit_count("read_partner_reflection", object_id=maria_reflection.id,
                       actor_id=c["anna"].id) == before + 1


def test_the_reveal_race_never_leaves_a_half_revealed_state(app, linked):
    c = linked
    browsers = {who: signed_in(app, c[who]) for who in ("maria", "anna")}
    for round_ in range(4):
        pe, tasks = give_to_pair(c["therapist"], c["pair"], reveal_together=True)
        task_ids = {who: tasks[c[who].id].id for who in browsers}
        words = {who: f"RACE-{who.upper()}-{round_}" for who in browsers}
        barrier = threading.Barrier(2)
        errors, statuses = [], []

        def send(who):
            try:
                browser = browsers[who]
                barrier.wait(timeout=10)
                statuses.append(browser.post(f"/tasks/{task_ids[who]}",
                                             data=submit_form(words[who])).status_code)
                with app.app_context():
                    rid = db.session.scalar(sa.select(Reflection.id).where(
                        Reflection.assignment_id == task_ids[who]))
                barrier.wait(timeout=10)
                statuses.append(browser.post(f"/reflections/{rid}/share").status_code)
            except Exception as exc:  # a thread's exception is otherwise lost
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(who,)) for who in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors and statuses == [302] * 4

        db.session.expire_all()
        reflections = {who: db.session.scalar(sa.select(Reflection).where(
            Reflection.assignment_id == task_ids[who])) for who in browsers}
        assert all(r.status == "submitted" and r.shared_at is not None for r in reflections.values())
        for reader, author in (("maria", "anna"), ("anna", "maria")):
            browser = browsers[reader]
            page = text_of(browser.get(f"/tasks/{task_ids[reader]}"))
            assert words[author] in page and "Waiting for your partner" not in page, round_
            assert words[author] in text_of(browser.get("/shared"))
            assert browser.get(f"/reflections/{reflections[author].id}").status_code == 200


# --- the therapist's pair page ---------------------------------------------------------------

def test_the_pair_page_shows_both_side_by_side_with_ratings_and_sharing(app, linked):
    c = linked
    pair = c["pair"]
    _, first = give_to_pair(c["therapist"], pair, exercise=built_in("choose_battles"))
    _, second = give_to_pair(c["therapist"], pair, exercise=built_in("agree_to_disagree"))
    _, safety = give_to_pair(c["therapist"], pair, exercise=built_in("safety"))
    m, a = c["maria"].id, c["anna"].id
    shared = submit(c["maria"], first[m], ["PAGE-MARIA-1"],
                    {"resentment": 8, "closeness": 2, "stayed_present": "no"})
    pair_services.share(c["maria"], shared)
    submit(c["anna"], first[a], ["PAGE-ANNA-1"], {"resentment": 5, "closeness": 4, "stayed_present": "yes"})
    submit(c["maria"], second[m], ["PAGE-MARIA-2"], {"resentment": 4, "closeness": 6, "stayed_present": "yes"})
    submit(c["anna"], second[a], ["PAGE-ANNA-2"], {"resentment": 5, "closeness": 5, "stayed_present": "partly"})
    submit(c["maria"], safety[m], ["PAGE-SAFETY-3"])
    save_draft(c["anna"], safety[a], ["PAGE-ANNA-DRAFT"])

    response = signed_in(app, c["therapist"]).get(f"/pairs/{pair.id}")
    assert response.status_code == 200
    html, page = response.get_data(as_text=True), text_of(response)
    for words in ("PAGE-MARIA-1", "PAGE-ANNA-1", "PAGE-MARIA-2", "PAGE-ANNA-2", "PAGE-SAFETY-3"):
        assert words in page
    assert "PAGE-ANNA-DRAFT" not in page  # drafts are the author's alone

    table = re.search(r'<table class="ratings-table">(.*?)</table>', html, re.DOTALL).group(1)
    header = text_of_html(re.search(r"<thead>(.*?)</thead>", table, re.DOTALL).group(1))
    assert f"{c['maria'].name} (mother)" in header and f"{c['anna'].name} (daughter)" in header
    rows = {text_of_html(re.search(r"<th[^>]*>(.*?)<br", row, re.DOTALL).group(1)): text_of_html(row)
            for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.DOTALL)}
    choose, agree, safe = (built_in(f).title for f in ("choose_battles", "agree_to_disagree", "safety"))
    assert "resentment 8, closeness 2, present no" in rows[choose]
    assert "resentment 5, closeness 4, present yes" in rows[choose]
    assert "saw it differently" in rows[choose]          # 8 vs 5 resentment: a gap of 3
    assert "saw it differently" not in rows[agree]      # gaps of 1
    assert "not sent yet" in rows[safe] and "saw it differently" not in rows[safe]

    # What each chose to share, per reflection.
    articles = re.findall(r'<article class="card">(.*?)</article>', html, re.DOTALL)
    by_title = {text_of_html(re.search(r"<h3>(.*?)</h3>", a_, re.DOTALL).group(1)).replace(
        "reveal together", "").strip(): a_ for a_ in articles}
    assert f"shared with {c['anna'].name}" in text_of_html(by_title[choose])
    assert "not shared" in text_of_html(by_title[choose])
    assert "never shared (safety)" in text_of_html(by_title[safe])
    assert "shared with" not in text_of_html(by_title[agree])

    for outsider in ("other_therapist", "elena", "other_client"):
        assert signed_in(app, c[outsider]).get(f"/pairs/{pair.id}").status_code == 404
    member_page = text_of(signed_in(app, c["anna"]).get(f"/pairs/{pair.id}"))
    assert "PAGE-MARIA-1" not in member_page and "PAGE-MARIA-2" not in member_page
    assert audit_count("read_pair_page", object_id=pair.id) >= 2


def text_of_html(html: str) -> str:
    return " ".join(unescape_text(html).split())


# --- query counts ----------------------------------------------------------------------------

# Measured: 12 for the pair page, 21 for /shared (which also writes its audit rows and reloads
# after committing them); a little headroom, no room for a query per row.
BOUNDS = {"/pairs": 15, "/shared": 25}


@contextmanager
def counting_statements():
    statements: list[str] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before_cursor_execute)


def _add_pair_exercises(c, count):
    from app.models import utcnow
    done = len(db.session.scalars(sa.select(PairExercise)).all())
    for i in range(done, count):
        _, tasks = give_to_pair(c["therapist"], c["pair"], reveal_together=(i % 2 == 0))
        for who in ("maria", "anna"):
            if who == "anna" and i % 3 == 0:
                continue  # some still waiting
            r = submit(c[who], tasks[c[who].id], [f"QC-{who}-{i}"],
                       {"resentment": i % 11, "closeness": (i * 3) % 11, "stayed_present": "yes"})
            r.shared_at = utcnow()
    db.session.commit()


def _measure(browser, url):
    browser.get(url)  # warm up
    with counting_statements() as statements:
        response = browser.get(url)
    assert response.status_code == 200
    return len(statements), text_of(response)


@pytest.mark.parametrize("who,url", [("therapist", "/pairs/{pair}"), ("anna", "/shared"),
                                     ("maria", "/shared")])
def test_pair_pages_cost_a_fixed_number_of_statements(app, linked, who, url):
    c = linked
    url = url.format(pair=c["pair"].id)
    browser = signed_in(app, c[who])
    _add_pair_exercises(c, 2)
    small, small_page = _measure(browser, url)
    _add_pair_exercises(c, 15)
    large, large_page = _measure(browser, url)
    # The pages really show more (so that the counts compare like with like).
    assert len(re.findall(r"QC-\w+-\d+", large_page)) > len(re.findall(r"QC-\w+-\d+", small_page)) >= 1
    assert large == small, f"{url}: {small} statements for 2 pair exercises, {large} for 15"
    bound = BOUNDS["/pairs" if url.startswith("/pairs") else "/shared"]
    assert large <= bound, f"{url}: {large} statements (bound {bound})"
