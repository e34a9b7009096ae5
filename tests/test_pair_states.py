"""Issue 16: the pair task's state machine as a table, through HTTP.

Every state of one reveal-together pair exercise (nobody sent, one sent, both sent, one
withdrew her share, the link ended) × every viewer (the member who sent first, the other
member, their therapist, another client, another therapist, anonymous) × every place the
state shows (the task page, home, the reveal page, notifications, the emails, the exports).

Each cell says what the viewer gets there: the status, the words she must read, and the words
she must not. Every cell is asserted; a cell the table forgets fails the completeness check."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Reflection
from tests.builders_pairs import give_to_pair, link, signed_in, submit_form, text_of
from tests.conftest import make_client, make_therapist

STATES = ("none_sent", "one_sent", "both_sent", "withdrawn", "ended")
VIEWERS = ("mother", "daughter", "therapist", "other_client", "other_therapist", "anonymous")
PLACES = ("task", "home", "reveal", "notifications", "email", "export")
M, D = "MOTHER-WORDS-7Q", "DAUGHTER-WORDS-7Q"  # what each wrote
# The sentences of the state machine (pairs.turns), as each member reads them.
TURN_WORDS = ("has answered", "Your turn", "Waiting", "Revealed", "open the reveal", "Open the reveal",
              "Link ended", "This link has ended", "shared a reflection with you")


@pytest.fixture
def cast(app):
    ruth, sam = make_therapist("Ruth"), make_therapist("Sam")
    mother = make_client(ruth, "Maria", email_notifications=True)
    daughter = make_client(ruth, "Elena", email_notifications=True)
    other_client, priya = make_client(ruth, "Olga"), make_client(sam, "Priya")
    ruth.email_notifications = True
    db.session.commit()
    pair = link(ruth, mother, daughter, labels=("mother", "daughter"))
    pe, tasks = give_to_pair(ruth, pair, reveal_together=True)
    return dict(mother=mother, daughter=daughter, therapist=ruth, other_client=other_client,
                other_therapist=sam, priya=priya, anonymous=None, pair=pair, pe=pe,
                tasks={"mother": tasks[mother.id], "daughter": tasks[daughter.id]})


def _send(app, c, who: str, words: str) -> None:
    response = signed_in(app, c[who]).post(f"/tasks/{c['tasks'][who].id}",
                                           data={**submit_form(words), "share_choice": "share"})
    assert response.status_code == 302, who


def _reflection_of(c, who: str) -> Reflection:
    db.session.expire_all()
    return db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == c["tasks"][who].id))


def reach(app, c, state: str) -> None:
    """Bring the pair exercise to `state` the way its members would: through the pages."""
    if state == "none_sent":
        return
    _send(app, c, "mother", M)
    if state == "one_sent":
        return
    _send(app, c, "daughter", D)
    if state == "withdrawn":
        mine = _reflection_of(c, "mother")
        assert signed_in(app, c["mother"]).post(f"/reflections/{mine.id}/unshare").status_code == 302
    elif state == "ended":
        assert signed_in(app, c["daughter"]).post(f"/pairs/{c['pair'].id}/leave").status_code == 302


# --- what each viewer gets, place by place ---------------------------------------------------------

def expected(c, state: str) -> dict:
    """{(place, viewer): (status, must read, must not read)}: the table."""
    m_name, d_name = c["mother"].name, c["daughter"].name
    nobody = (404, [], [M, D])
    away = (302, [], [M, D])  # anonymous: to the sign-in page
    sent_m = state != "none_sent"
    sent_d = state in ("both_sent", "withdrawn", "ended")
    mine_m, mine_d = ([M] if sent_m else []), ([D] if sent_d else [])
    table = {}

    # The task page: each member her own turn; their therapist what was sent, without turn words.
    mother_task = {
        "none_sent": (200, [f"{d_name} has not shared a reflection on this exercise with you."], [D, "Your turn"]),
        "one_sent": (200, [f"You have answered; waiting for {d_name}.", M], [D, "Your turn"]),
        "both_sent": (200, ["Both of you have answered — open the reveal", M, D], []),
        # she withdrew hers; her daughter's is still shared with her
        "withdrawn": (200, ["Both of you have answered — open the reveal", M, D], []),
        "ended": (200, ["This link has ended", M], [D, "open the reveal"]),
    }[state]
    daughter_task = {
        "none_sent": (200, [f"{m_name} has not shared a reflection on this exercise with you."], [M, "Your turn"]),
        "one_sent": (200, [f"Your mother has answered — send yours to read {m_name}’s."], [M]),
        "both_sent": (200, ["Both of you have answered — open the reveal", M, D], []),
        "withdrawn": (200, [f"You have answered; waiting for {m_name}.", D], [M, "open the reveal"]),
        "ended": (200, ["This link has ended", D], [M, "open the reveal"]),
    }[state]
    table["task", "mother"], table["task", "daughter"] = mother_task, daughter_task
    # (she reads their words on the reflection's own page; the task page manages the task)
    table["task", "therapist"] = (200, [], [M, D] + list(TURN_WORDS))
    for viewer in ("other_client", "other_therapist"):
        table["task", viewer] = nobody
    table["task", "anonymous"] = away

    # Home: a badge and the sentence on the member's card; never anyone's words.
    table["home", "mother"] = {
        "none_sent": (200, [], [M, D, "Your turn", "Waiting", "Revealed"]),
        "one_sent": (200, ["Waiting", f"You have answered; waiting for {d_name}."], [M, D, "Your turn"]),
        "both_sent": (200, ["Revealed", "Open the reveal"], [M, D, "Your turn"]),
        "withdrawn": (200, ["Revealed", "Open the reveal"], [M, D, "Your turn"]),
        "ended": (200, ["Link ended"], [M, D, "Your turn", "Open the reveal"]),
    }[state]
    table["home", "daughter"] = {
        "none_sent": (200, [], [M, D, "Your turn", "Waiting", "Revealed"]),
        "one_sent": (200, ["Your turn", f"Your mother has answered — send yours to read {m_name}’s."], [M, D]),
        "both_sent": (200, ["Revealed", "Open the reveal"], [M, D, "Your turn"]),
        "withdrawn": (200, ["Waiting", f"You have answered; waiting for {m_name}."], [M, D, "Open the reveal"]),
        "ended": (200, ["Link ended"], [M, D, "Your turn", "Open the reveal"]),
    }[state]
    table["home", "therapist"] = (403, [], [M, D])
    table["home", "other_client"] = (200, [], [M, D] + list(TURN_WORDS))
    table["home", "other_therapist"] = (403, [], [M, D])
    table["home", "anonymous"] = away

    # The reveal page: each member once both have sent (each column what she may read).
    not_yet = (409, [], [M, D])
    table["reveal", "mother"] = {"none_sent": not_yet, "one_sent": (409, [], [D]),
                                 "both_sent": (200, [M, D], []), "withdrawn": (200, [M, D], []),
                                 "ended": (409, [], [D])}[state]
    table["reveal", "daughter"] = {"none_sent": not_yet, "one_sent": (409, ["send yours"], [M]),
                                   "both_sent": (200, [M, D], []), "withdrawn": (200, [D], [M]),
                                   "ended": (409, [], [M])}[state]
    table["reveal", "therapist"] = (403, [], [M, D])
    for viewer in ("other_client", "other_therapist"):
        table["reveal", viewer] = nobody
    table["reveal", "anonymous"] = away

    # Notifications: the turn and the reveal in her words; taken back when no longer true.
    revealed = "Both of you have answered — open the reveal."
    turn = f"Your mother has answered — send yours to read {m_name}’s."
    table["notifications", "mother"] = {
        "none_sent": (200, [], [revealed, "has answered"]), "one_sent": (200, [], [revealed, "has answered"]),
        "both_sent": (200, [revealed], [turn]), "withdrawn": (200, [revealed], [turn]),
        "ended": (200, [], [revealed, "has answered"]),
    }[state]
    table["notifications", "daughter"] = {
        "none_sent": (200, [], [revealed, "has answered"]), "one_sent": (200, [turn], [revealed]),
        # her send took back "your turn"; the reveal she was told of is taken back when the
        # mother withdraws, and every pair notice when the link ends
        "both_sent": (200, [revealed], [turn]), "withdrawn": (200, [], [revealed, turn]),
        "ended": (200, [], [revealed, turn]),
    }[state]
    new_reflection = ["A new reflection to read"] if sent_m else []
    table["notifications", "therapist"] = (200, new_reflection, list(TURN_WORDS))
    for viewer in ("other_client", "other_therapist"):
        table["notifications", viewer] = (200, [], [M, D] + list(TURN_WORDS))
    table["notifications", "anonymous"] = away

    # Emails (all received so far): one sentence of the turn, never anyone's words.
    emailed = {"none_sent": ([], []), "one_sent": ([], [turn])}.get(state, ([revealed], [turn, revealed]))
    table["email", "mother"] = (None, emailed[0], [M, D])
    table["email", "daughter"] = (None, emailed[1], [M, D])
    table["email", "therapist"] = (None, ["You have something new"] if sent_m else [], [M, D] + list(TURN_WORDS))
    for viewer in ("other_client", "other_therapist", "anonymous"):
        table["email", viewer] = (None, [], [M, D])

    # Exports: each member's record holds her own words, never the other's; her therapist's
    # export of each holds that client's; nobody else's holds either.
    table["export", "mother"] = (200, mine_m, [D])
    table["export", "daughter"] = (200, mine_d, [M])
    table["export", "therapist"] = (200, mine_m + mine_d, [])
    table["export", "other_client"] = (200, [], [M, D])
    table["export", "other_therapist"] = (404, [], [M, D])
    table["export", "anonymous"] = away
    return table


# --- how each place is read ---------------------------------------------------------------------

def observe(app, c, mailbox, place: str, viewer: str) -> tuple[int | None, str]:
    browser = signed_in(app, c[viewer])
    if place == "task":
        texts = [browser.get(f"/tasks/{c['tasks'][who].id}") for who in ("mother", "daughter")]
        own = {"mother": 0, "daughter": 1}.get(viewer)
        if own is not None:  # a member reads her own task (the other's is not hers: 404)
            assert texts[1 - own].status_code == 404
            return texts[own].status_code, text_of(texts[own])
        assert texts[0].status_code == texts[1].status_code
        return texts[0].status_code, text_of(texts[0]) + " " + text_of(texts[1])
    if place == "home":
        response = browser.get("/home")
    elif place == "reveal":
        response = browser.get(f"/pairs/exercises/{c['pe'].id}/reveal")
    elif place == "notifications":
        response = browser.get("/notifications")
    elif place == "email":
        user = c[viewer]
        messages = mailbox.to(user.email) if user is not None else []
        return None, " ".join(mailbox.body(m) + " " + m["Subject"] for m in messages)
    else:  # export: her own record (a client), or each member's (a therapist)
        if viewer in ("therapist", "other_therapist"):
            parts = [browser.get(f"/clients/{c[who].id}/export.json") for who in ("mother", "daughter")]
            assert parts[0].status_code == parts[1].status_code
            return parts[0].status_code, " ".join(p.get_data(as_text=True) for p in parts)
        response = browser.get("/export.json")
    return response.status_code, text_of(response)


@pytest.mark.parametrize("state", STATES)
def test_the_pair_state_machine_as_a_table(app, cast, mailbox, state):
    c = cast
    reach(app, c, state)
    table = expected(c, state)
    assert set(table) == {(place, viewer) for place in PLACES for viewer in VIEWERS}  # complete
    wrong = []
    for (place, viewer), (status, must, must_not) in sorted(table.items()):
        got_status, text = observe(app, c, mailbox, place, viewer)
        if status is not None and got_status != status:
            wrong.append(f"{place} × {viewer}: status {got_status}, expected {status}")
            continue
        wrong += [f"{place} × {viewer}: missing {w!r}" for w in must if w not in text]
        wrong += [f"{place} × {viewer}: shows {w!r}" for w in must_not if w in text]
    assert not wrong, f"state {state}:\n" + "\n".join(wrong)


def test_each_member_is_told_once_per_step(app, cast, mailbox):
    """Emails: her turn once, the reveal once each, nothing to the one who is waiting."""
    c = cast
    _send(app, c, "mother", M)
    assert len(mailbox.to(c["daughter"].email)) == 1 and not mailbox.to(c["mother"].email)
    _send(app, c, "daughter", D)
    assert len(mailbox.to(c["daughter"].email)) == 2 and len(mailbox.to(c["mother"].email)) == 1
    for who in ("mother", "daughter"):
        assert "open the reveal" in mailbox.body(mailbox.to(c[who].email)[-1])
