"""Issue 22, item 9: idempotent writes. Every form that creates something carries a one-time key
made when the page is drawn; the key is stored in the transaction of the write, and the same
form posted again (the "not saved yet" page sending it again after a commit that had in fact
succeeded, a double click) makes nothing more and is answered as the first post was."""
from __future__ import annotations

import html
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.clock import today_for
from app.extensions import db
from app.models import (
    Addendum,
    AgendaItem,
    Assignment,
    Exercise,
    Feedback,
    Invitation,
    OnceKey,
    Pair,
    PairExercise,
    PairReply,
    PrivateAnnotation,
    SessionComment,
    SessionNote,
    TherapySession,
)
from tests.builders_homework import submit
from tests.builders_pairs import flashes, signed_in
from tests.conftest import make_client
from tests.world import build_world


@dataclass
class Kind:
    """One form that creates something: who posts it, from which page, what, and what it makes."""

    name: str
    who: str                      # a key of the world
    page: Callable[[dict], str]   # the page the form is on
    action: Callable[[dict], str]
    data: Callable[[dict], dict]
    model: type
    where: Callable[[dict], object] | None = None  # counts only these rows of the model
    prepare: Callable[[dict], None] | None = None


def _today(w) -> str:
    return (today_for(w["client"]) + timedelta(days=1)).isoformat()


def _reveal(w) -> None:
    """The partner sends and shares hers too: the reveal is open and Maria may reply."""
    from app.pairs.services import share

    task = next(t for t in w["pair_exercise"].tasks if t.client_id == w["partner"].id)
    w["partner_reflection"] = submit(w["partner"], task, answers=["The daughter's words."])
    share(w["partner"], w["partner_reflection"])


def _free_clients(w) -> None:
    w["first_free"] = w["same_therapist_client"]
    w["second_free"] = make_client(w["therapist"], "Nadia")


KINDS = [
    Kind("addendum", "client", lambda w: f"/tasks/{w['submitted_task'].id}",
         lambda w: f"/reflections/{w['reflection'].id}/addenda",
         lambda w: {"body": "Something I forgot to say."}, Addendum),
    Kind("feedback", "therapist", lambda w: f"/reflections/{w['reflection'].id}",
         lambda w: f"/reflections/{w['reflection'].id}/feedback",
         lambda w: {"body": "Thank you for writing this.", "mark_reviewed": "y", "recipients": "one"},
         Feedback),
    Kind("annotation", "therapist", lambda w: f"/reflections/{w['reflection'].id}",
         lambda w: f"/reflections/{w['reflection'].id}/annotations",
         lambda w: {"body": "Ask about the holidays."}, PrivateAnnotation),
    Kind("session comment", "client", lambda w: f"/sessions/{w['session'].id}",
         lambda w: f"/sessions/{w['session'].id}/comments",
         lambda w: {"body": "I would like to add something."}, SessionComment),
    Kind("agenda item", "client", lambda w: "/sessions", lambda w: "/agenda",
         lambda w: {"body": "My sister's visit"}, AgendaItem),
    Kind("member note", "client", lambda w: f"/sessions/{w['pair_session'].id}",
         lambda w: f"/sessions/{w['pair_session'].id}/member-notes",
         lambda w: {"body": "A note of mine.", "visibility": "therapist", "version": "0"}, SessionNote),
    Kind("pair reply", "client", lambda w: f"/pairs/exercises/{w['pair_exercise'].id}/reveal",
         lambda w: f"/pairs/exercises/{w['pair_exercise'].id}/replies",
         lambda w: {"reflection_id": str(w["partner_reflection"].id), "prompt_index": "0",
                    "body": "I hear you."}, PairReply, prepare=_reveal),
    Kind("invitation", "therapist", lambda w: "/invitations/new", lambda w: "/invitations/new",
         lambda w: {"email": "someone.new@example.org"}, Invitation),
    Kind("task", "therapist", lambda w: f"/clients/{w['client'].id}/assign",
         lambda w: f"/clients/{w['client'].id}/assign",
         lambda w: {"exercise_id": str(w["built_in"].id), "due_date": _today(w), "repeat": "weekly",
                    "times": "2", "note": "Twice."}, Assignment),
    Kind("task for a pair", "therapist", lambda w: f"/pairs/{w['pair'].id}/assign",
         lambda w: f"/pairs/{w['pair'].id}/assign",
         lambda w: {"exercise_id": str(w["built_in"].id), "due_date": _today(w), "repeat": "none",
                    "times": "1", "reveal_together": "y"}, PairExercise),
    Kind("session", "therapist", lambda w: f"/clients/{w['client'].id}/sessions/new",
         lambda w: f"/clients/{w['client'].id}/sessions/new",
         lambda w: {"day": today_for(w["therapist"]).isoformat(), "time": "09:00",
                    "duration_minutes": "50"}, TherapySession),
    Kind("pair", "therapist", lambda w: "/pairs/new", lambda w: "/pairs/new",
         lambda w: {"first_id": str(w["first_free"].id), "first_label": "sister",
                    "second_id": str(w["second_free"].id), "second_label": "sister"}, Pair,
         prepare=_free_clients),
    Kind("exercise", "therapist", lambda w: "/exercises/new", lambda w: "/exercises/new",
         lambda w: {"title": "Letters never sent", "family": "forgiveness_letter",
                    "instructions": "Write it, keep it.", "prompts": "What would you say?\nWhat stops you?"},
         Exercise, where=lambda w: Exercise.built_in.is_(False)),
]


def kept_fields(page: str) -> dict:
    """The fields of the "not saved yet" page's form, as retry.js sends them again."""
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        fields[name] = html.unescape(value)
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[name] = html.unescape(value)
    return fields


def _count(kind: Kind, w) -> int:
    query = sa.select(sa.func.count()).select_from(kind.model)
    if kind.where is not None:
        query = query.where(kind.where(w))
    db.session.expire_all()
    return db.session.scalar(query)


def _key_on_page(html: str, action: str) -> str:
    """The one-time key of the form that posts to `action` (or of the page's one such form)."""
    forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", html, re.S)
    for attributes, body in forms:
        target = re.search(r'action="([^"]*)"', attributes)
        if target is None or target.group(1) == action:
            key = re.search(r'<input[^>]*\bname="once"[^>]*\bvalue="([^"]+)"', body)
            if key:
                return key.group(1)
    raise AssertionError(f"no one-time key in the form that posts to {action}")


def _world(kind: Kind) -> dict:
    w = build_world()
    if kind.prepare is not None:
        kind.prepare(w)
    return w


@contextmanager
def answer_lost_after_commit(model: type):
    """The commit that writes a new `model` row reaches the database, and then the connection
    drops before the app hears of it (OperationalError after the commit): the request ends
    "not saved yet" although the write is there."""
    lost = []

    def note(session, flush_context):
        if any(isinstance(obj, model) for obj in session.new):
            session.info["cg_writes_target"] = True

    def drop(session):
        if session.info.pop("cg_writes_target", False) and not lost:
            lost.append(True)
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))

    event.listen(Session, "after_flush", note)
    event.listen(Session, "after_commit", drop)
    try:
        yield lost
    finally:
        event.remove(Session, "after_commit", drop)
        event.remove(Session, "after_flush", note)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_the_same_form_posted_twice_makes_one_and_answers_the_same(app, kind):
    w = _world(kind)
    browser = signed_in(app, w[kind.who])
    key = _key_on_page(browser.get(kind.page(w)).get_data(as_text=True), kind.action(w))
    data = {**kind.data(w), "once": key}
    before = _count(kind, w)

    first = browser.post(kind.action(w), data=data)
    assert first.status_code == 302, f"{kind.name}: the first post was refused"
    made = _count(kind, w)
    assert made > before
    said = flashes(browser.get(first.location))

    second = browser.post(kind.action(w), data=data)
    assert second.status_code == 302
    assert second.location == first.location
    assert _count(kind, w) == made, f"{kind.name}: the second post made another"
    assert flashes(browser.get(second.location)) == said


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_sent_again_by_the_not_saved_page_after_a_commit_that_succeeded(app, kind):
    w = _world(kind)
    browser = signed_in(app, w[kind.who])
    key = _key_on_page(browser.get(kind.page(w)).get_data(as_text=True), kind.action(w))
    before = _count(kind, w)
    with answer_lost_after_commit(kind.model) as lost:
        response = browser.post(kind.action(w), data={**kind.data(w), "once": key})
    assert lost, "the fault was not injected"
    assert response.status_code == 503
    made = _count(kind, w)
    assert made > before  # the commit did happen
    kept = kept_fields(response.get_data(as_text=True))
    assert kept["once"] == key  # the page sends the key again with everything else

    again = browser.post(kind.action(w), data=kept)
    assert again.status_code == 302
    assert _count(kind, w) == made, f"{kind.name}: sent again, it was made twice"
    said = flashes(browser.get(again.location))
    assert said and not any("not saved" in message.lower() for message in said)


def test_the_key_is_stored_with_the_write_and_only_with_it(app):
    """A refused post (nothing written) does not spend its key: corrected, it goes through."""
    kind = next(k for k in KINDS if k.name == "invitation")
    w = _world(kind)
    browser = signed_in(app, w["therapist"])
    key = _key_on_page(browser.get("/invitations/new").get_data(as_text=True), "/invitations/new")
    refused = browser.post("/invitations/new", data={"email": "not an address", "once": key})
    assert refused.status_code == 200
    assert key in refused.get_data(as_text=True)  # the form shown again keeps its key
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OnceKey)
                             .where(OnceKey.key == key)) == 0
    accepted = browser.post("/invitations/new", data={"email": "someone.new@example.org", "once": key})
    assert accepted.status_code == 302
    db.session.expire_all()
    row = db.session.scalar(sa.select(OnceKey).where(OnceKey.key == key))
    assert row.user_id == w["therapist"].id and row.action == "invitation_created"
    assert set(row.made) == {"id"}


def test_a_key_is_one_persons_own(app):
    """Another person posting the same key (she cannot know it; say she did) still adds hers."""
    w = build_world()
    key = "k" * 24

    def items_of(who) -> int:
        db.session.expire_all()
        return db.session.scalar(sa.select(sa.func.count()).select_from(AgendaItem)
                                 .where(AgendaItem.client_id == w[who].id))

    for who in ("client", "partner"):
        before = items_of(who)
        browser = signed_in(app, w[who])
        assert browser.post("/agenda", data={"body": f"From {who}", "once": key}).status_code == 302
        assert items_of(who) == before + 1


def test_a_post_without_a_key_is_accepted_and_not_deduplicated(app):
    """Pages drawn before keys existed, or without them: accepted as before (no key, no
    de-duplication). The pages themselves always send one."""
    w = build_world()
    browser = signed_in(app, w["client"])
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AgendaItem))
    for _ in range(2):
        assert browser.post("/agenda", data={"body": "No key"}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AgendaItem)) == before + 2


def test_a_page_with_several_forms_gives_each_its_own_key(app):
    kind = next(k for k in KINDS if k.name == "pair reply")
    w = _world(kind)
    html = signed_in(app, w["client"]).get(kind.page(w)).get_data(as_text=True)
    keys = re.findall(r'<input[^>]*\bname="once"[^>]*\bvalue="([^"]+)"', html)
    assert len(keys) >= 2 and len(set(keys)) == len(keys)
    assert 'id="once"' not in html


def test_the_same_form_sent_twice_at_the_same_instant_makes_one(app):
    """Two copies of one post racing (a double click on a slow connection, a retry while the
    first is still running): the key is stored once; the second waits for the first's commit
    (PostgreSQL: the unique key; SQLite: its write lock) and makes nothing."""
    import threading

    w = build_world()
    reflection_id = w["reflection"].id
    browsers = [signed_in(app, w["client"]) for _ in range(2)]
    for attempt in range(5):
        key = f"race-{attempt}-" + "x" * 16
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Addendum))
        barrier = threading.Barrier(len(browsers))
        statuses, errors = [], []

        def send(browser, key=key, barrier=barrier, statuses=statuses, errors=errors):
            try:
                barrier.wait(timeout=10)
                statuses.append(browser.post(f"/reflections/{reflection_id}/addenda",
                                             data={"body": "Said once.", "once": key}).status_code)
            except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert statuses == [302, 302]
        db.session.expire_all()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Addendum)) == before + 1


def test_the_daily_purge_forgets_keys_older_than_a_month(app):
    from datetime import timedelta

    from app.models import OnceKey, utcnow
    from tests.conftest import make_client, make_therapist

    person = make_client(make_therapist())
    db.session.add_all([OnceKey(user_id=person.id, key="k" * 20, action="addendum",
                                created_at=utcnow() - timedelta(days=31)),
                        OnceKey(user_id=person.id, key="f" * 20, action="addendum")])
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge-deleted"])
    assert result.exit_code == 0 and "1 old form key(s)" in result.output
    db.session.expire_all()
    assert [k.key for k in db.session.scalars(sa.select(OnceKey))] == ["f" * 20]


def test_a_key_used_by_one_form_is_refused_by_another_without_a_crash(app):
    """A crafted post: the schedule form sent with the key a bulk assignment already used."""
    from datetime import time

    from werkzeug.exceptions import BadRequest

    from app.core import once
    from app.models import TherapySession
    from app.therapy_sessions import schedule
    from tests.conftest import make_therapist
    ruth = make_therapist("Ruth")
    maria = make_client(ruth, "Maria")
    key = once.new_key()
    assert once.first_time(ruth, key, "bulk_assigned")
    db.session.commit()
    with pytest.raises(BadRequest):
        schedule.schedule_session(ruth, maria, today_for(ruth) + timedelta(days=3), time(9), 50, None,
                                  once_key=key)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TherapySession)) == 0
