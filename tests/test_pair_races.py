"""Two changes of one pair at the same moment: its end and a share, an answer and an end, two
ends, two shares, a reply and an end. On PostgreSQL (READ COMMITTED) two requests run side by
side, so each must take its turn on the pair's row (app/pairs/holding.py); on SQLite every
request that writes already waits for the one write lock.

Each race is played out, not left to timing luck: the first request is stopped just before its
commit (its writes flushed, its locks held), the second is sent meanwhile, and the first goes
on once the second waits for it (PostgreSQL shows the wait) or has finished (which it did,
deciding on the old state, before the pair was held)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuditEvent, Notification, Pair, PairExercise, PairMember, PairReply, Reflection, User, utcnow
from app.notifications.services import PAIR_KINDS
from app.pairs import services as pair_services
from tests.builders_homework import built_in, submit
from tests.builders_pairs import audit_count, flashes, give_to_pair, link, signed_in, submit_form, text_of
from tests.conftest import make_client, make_therapist

NOT_LINKED = "You can share once both of you have accepted the link."


class PausedCommit:
    """Stops the commit of `thread` whose transaction wrote the audit row `action`, its writes
    flushed, until `go` is set."""

    def __init__(self, action: str):
        self.action, self.thread = action, None
        self.reached, self.go = threading.Event(), threading.Event()

    def after_flush(self, session, _context):
        if threading.current_thread() is self.thread and any(
                isinstance(o, AuditEvent) and o.action == self.action for o in session.new):
            session.info["cg_test_pause"] = True

    def before_commit(self, session):
        if threading.current_thread() is self.thread and not self.reached.is_set():
            session.flush()
            if session.info.pop("cg_test_pause", False):
                self.reached.set()
                self.go.wait(timeout=20)


def _waiting_for_a_lock() -> bool:
    with db.engine.connect() as conn:
        return bool(conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def _until_it_waits_or_ends(thread: threading.Thread) -> None:
    if db.engine.dialect.name != "postgresql":
        thread.join(0.3)  # SQLite shows no wait; the write lock decides the order anyway
        return
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline and not _waiting_for_a_lock():
        time.sleep(0.02)


def race(first, second, action: str):
    """Send `first` (stopped before the commit that writes `action`), then `second`; their
    responses (or what they raised)."""
    pause, results = PausedCommit(action), {}

    def run(name, send):
        try:
            results[name] = send()
        except Exception as exc:  # noqa: BLE001 - a thread's exception is otherwise lost
            results[name] = exc

    threads = [threading.Thread(target=run, args=(name, send))
               for name, send in (("first", first), ("second", second))]
    pause.thread = threads[0]
    event.listen(Session, "after_flush", pause.after_flush)
    event.listen(Session, "before_commit", pause.before_commit)
    try:
        threads[0].start()
        assert pause.reached.wait(20), "the first request never reached its commit"
        threads[1].start()
        _until_it_waits_or_ends(threads[1])
    finally:
        pause.go.set()
        for thread in threads:
            thread.join(timeout=30)
        event.remove(Session, "after_flush", pause.after_flush)
        event.remove(Session, "before_commit", pause.before_commit)
    db.session.expire_all()
    return results["first"], results["second"]


def said(response) -> str:
    assert not isinstance(response, Exception), repr(response)
    assert response.status_code == 200, response.status_code  # redirects followed, never a 500
    return " ".join(flashes(response))


@pytest.fixture
def cast(app):
    ruth = make_therapist("Ruth")
    c = {"therapist": ruth, "maria": make_client(ruth, "Maria"), "anna": make_client(ruth, "Anna")}
    c["pair"] = link(ruth, c["maria"], c["anna"])
    c["pair_id"] = c["pair"].id
    _, c["tasks"] = give_to_pair(ruth, c["pair"])
    return c


@pytest.fixture
def browsers(app, cast):
    return {who: signed_in(app, cast[who]) for who in ("maria", "anna", "therapist")}


def ender(browsers, cast, who: str):
    """(the request that ends the pair, its audit action)."""
    verb = "dissolve" if who == "therapist" else "leave"
    return (lambda: browsers[who].post(f"/pairs/{cast['pair_id']}/{verb}", follow_redirects=True),
            "pair_dissolved" if who == "therapist" else "pair_left")


def sent_by_maria(cast) -> int:
    return submit(cast["maria"], cast["tasks"][cast["maria"].id], answers=["MARIA-SENT"]).id


def pair_notices() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind.in_(PAIR_KINDS)))


def ended_and_nothing_shared(cast) -> None:
    pair = db.session.get(Pair, cast["pair_id"])
    assert pair.ended_at is not None
    shared = db.session.scalars(sa.select(Reflection.id).where(Reflection.shared_at.is_not(None))).all()
    assert shared == [], "a share outlived the pair"
    assert pair_notices() == 0, "a notice of the pair outlived it"


# --- a share and the pair's end ----------------------------------------------------------------

@pytest.mark.parametrize("who_ends", ["anna", "therapist"])
def test_a_share_sent_while_the_pair_ends_is_refused(app, cast, browsers, who_ends):
    reflection_id = sent_by_maria(cast)
    end, action = ender(browsers, cast, who_ends)
    ended, shared = race(end, lambda: browsers["maria"].post(
        f"/reflections/{reflection_id}/share", follow_redirects=True), action)
    said(ended)
    assert NOT_LINKED in said(shared)
    ended_and_nothing_shared(cast)


@pytest.mark.parametrize("who_ends", ["anna", "therapist"])
def test_a_pair_ended_while_a_share_is_in_flight_ends_that_share_too(app, cast, browsers, who_ends):
    reflection_id = sent_by_maria(cast)
    end, _ = ender(browsers, cast, who_ends)
    shared, ended = race(lambda: browsers["maria"].post(
        f"/reflections/{reflection_id}/share", follow_redirects=True), end, "reflection_shared")
    assert "Shared with" in said(shared)
    said(ended)
    ended_and_nothing_shared(cast)
    assert audit_count("reflection_share_ended_with_pair", object_id=reflection_id) == 1


@pytest.mark.parametrize("send_first", [True, False])
def test_sending_and_sharing_in_one_step_takes_turns_with_the_end(app, cast, browsers, send_first):
    task_id = cast["tasks"][cast["maria"].id].id
    form = {**submit_form("MARIA-SENT-AND-SHARED"), "share_choice": "share"}

    def send():
        return browsers["maria"].post(f"/tasks/{task_id}", data=form, follow_redirects=True)

    end, action = ender(browsers, cast, "anna")
    first, second = (send, end) if send_first else (end, send)
    for response in race(first, second, "reflection_shared" if send_first else action):
        said(response)
    ended_and_nothing_shared(cast)
    sent = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task_id))
    assert sent.status == "submitted" and sent.answers[0] == "MARIA-SENT-AND-SHARED"


# --- answering a link, and two ends at once ---------------------------------------------------

@pytest.mark.parametrize("who_ends", ["anna", "therapist"])
def test_an_acceptance_while_the_link_is_declined_or_dissolved_is_refused(app, who_ends):
    ruth = make_therapist("Ruth")
    maria, anna = make_client(ruth, "Maria"), make_client(ruth, "Anna")
    pair_id = link(ruth, maria, anna, accepted_by=()).id
    browsers = {"maria": signed_in(app, maria), "anna": signed_in(app, anna),
                "therapist": signed_in(app, ruth)}
    verb, action = ("dissolve", "pair_dissolved") if who_ends == "therapist" else ("decline", "pair_declined")
    ended, accepted = race(lambda: browsers[who_ends].post(f"/pairs/{pair_id}/{verb}", follow_redirects=True),
                           lambda: browsers["maria"].post(f"/pairs/{pair_id}/accept", follow_redirects=True),
                           action)
    said(ended)
    assert "nothing waiting for your answer" in said(accepted)
    assert db.session.get(Pair, pair_id).ended_at is not None
    assert db.session.scalar(sa.select(PairMember.accepted_at).where(
        PairMember.pair_id == pair_id, PairMember.user_id == maria.id)) is None
    assert audit_count("pair_accepted", actor_id=maria.id) == 0


@pytest.mark.parametrize("second_ender", ["maria", "therapist"])
def test_two_ends_at_once_end_the_pair_once(app, cast, browsers, second_ender):
    first_end, action = ender(browsers, cast, "anna")
    second_end, _ = ender(browsers, cast, second_ender)
    ended, again = race(first_end, second_end, action)
    said(ended)
    assert ("not in this pair any more" if second_ender == "maria" else "already ended") in said(again)
    pair = db.session.get(Pair, cast["pair_id"])
    assert (pair.ended_by_id, pair.end_reason) == (cast["anna"].id, "left")
    assert audit_count("pair_left") + audit_count("pair_dissolved") == 1


# --- the same share twice, and a reply as the pair ends --------------------------------------

@pytest.mark.parametrize("verb", ["share", "unshare"])
def test_the_same_share_or_withdrawal_twice_at_once_happens_once(app, cast, browsers, verb):
    reflection_id = sent_by_maria(cast)
    if verb == "unshare":
        pair_services.share(cast["maria"], db.session.get(Reflection, reflection_id))
    other_tab = signed_in(app, cast["maria"])
    action = "reflection_shared" if verb == "share" else "reflection_share_withdrawn"
    url = f"/reflections/{reflection_id}/{verb}"
    done, again = race(lambda: browsers["maria"].post(url, follow_redirects=True),
                       lambda: other_tab.post(url, follow_redirects=True), action)
    said(done)
    assert ("already shared" if verb == "share" else "not shared") in said(again)
    assert audit_count(action, object_id=reflection_id) == 1
    assert pair_notices() == (1 if verb == "share" else 0)


def test_a_reply_sent_as_the_pair_ends_is_refused_and_tells_nobody(app, cast, browsers):
    maria, anna = cast["maria"], cast["anna"]
    for who in (maria, anna):
        pair_services.share(who, submit(who, cast["tasks"][who.id], answers=[f"{who.name} SENT"]))
    theirs = db.session.scalar(sa.select(Reflection).where(Reflection.author_id == anna.id))
    pair_exercise_id = cast["tasks"][anna.id].pair_exercise_id
    end, action = ender(browsers, cast, "anna")
    ended, replied = race(end, lambda: browsers["maria"].post(
        f"/pairs/exercises/{pair_exercise_id}/replies",
        data={"reflection_id": str(theirs.id), "prompt_index": "0", "body": "I hear you."}), action)
    said(ended)
    assert not isinstance(replied, Exception) and replied.status_code in (403, 404)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PairReply)) == 0
    ended_and_nothing_shared(cast)


# --- a link or an exercise while another transaction changes the pair's people ---------------

def while_held(write, send):
    """`send()` while another transaction has run `write(connection)`, uncommitted; it commits
    once the request waits for it (or has ended). The response."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("response", send()))
    with db.engine.connect() as other:
        write(other)
        thread.start()
        _until_it_waits_or_ends(thread)
        other.commit()
    thread.join(timeout=30)
    db.session.expire_all()
    return outcome["response"]


def test_a_link_proposed_while_another_links_her_is_refused(app):
    ruth = make_therapist("Ruth")
    maria, anna, bea = (make_client(ruth, name).id for name in ("Maria", "Anna", "Bea"))
    browser = signed_in(app, ruth)

    def other_link(conn):  # the other tab's proposal: her row held, her pair written
        conn.execute(sa.select(User.id).where(User.id == maria).with_for_update(key_share=True))
        pair_id = conn.execute(sa.insert(Pair).values(therapist_id=ruth.id).returning(Pair.id)).scalar_one()
        conn.execute(sa.insert(PairMember), [{"pair_id": pair_id, "user_id": u, "label": "x"} for u in (maria, anna)])

    response = while_held(other_link, lambda: browser.post("/pairs/new", data={
        "first_id": str(maria), "first_label": "mother", "second_id": str(bea), "second_label": "daughter"}))
    assert response.status_code == 200, response.status_code
    assert "is already in a pair" in text_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PairMember).join(Pair).where(
        PairMember.user_id == maria, Pair.ended_at.is_(None))) == 1


def test_an_exercise_given_while_the_pair_is_dissolved_is_refused(app, cast):
    browser, pair_id = signed_in(app, cast["therapist"]), cast["pair_id"]
    exercise_id = built_in("stay_present").id
    given = db.session.scalar(sa.select(sa.func.count(PairExercise.id)).where(PairExercise.pair_id == pair_id))

    def dissolve(conn):
        conn.execute(sa.select(Pair.id).where(Pair.id == pair_id).with_for_update(key_share=True))
        conn.execute(sa.update(Pair).where(Pair.id == pair_id).values(
            ended_at=utcnow(), ended_by_id=cast["therapist"].id, end_reason="dissolved"))

    form = {"exercise_id": str(exercise_id), "due_date": (utcnow() + timedelta(days=3)).date().isoformat()}
    response = while_held(dissolve, lambda: browser.post(f"/pairs/{pair_id}/assign", data=form,
                                                         follow_redirects=True))
    assert response.status_code == 403 or "This pair has ended." in said(response), response.status_code
    assert db.session.scalar(sa.select(sa.func.count(PairExercise.id)).where(
        PairExercise.pair_id == pair_id)) == given
