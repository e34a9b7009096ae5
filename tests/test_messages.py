"""Secure messages through the HTTP layer: who reads and writes a client's thread and a pair's,
what bad input gets (empty, too long, someone else's thread, an ended pair, a closed account, the
same form twice), replies to feedback, read state for both sides, the audit of every read by
someone else, the body encrypted at rest, the export, and notifications without content."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.homework import review
from app.models import (
    MESSAGE_MAX_LENGTH,
    AuditEvent,
    Message,
    MessageRead,
    MessageThread,
    Notification,
    OnceKey,
    User,
    utcnow,
)
from app.pairs import services as pair_services
from tests.builders_homework import assign, submit, textarea
from tests.builders_pairs import flashes, link, signed_in, text_of
from tests.conftest import make_client

PEOPLE = ["maria", "anna", "ruth", "elena", "sam", "priya", "anonymous"]


@pytest.fixture
def cast(app, people):
    """Ruth's clients Maria and Anna (linked: mother and daughter) and Elena; Sam and Priya."""
    cast = {"ruth": people["therapist"], "maria": people["client"],
            "elena": people["other_client_same_therapist"], "sam": people["other_therapist"],
            "priya": people["other_client"], "anna": make_client(people["therapist"], "Anna")}
    cast["pair"] = link(cast["ruth"], cast["maria"], cast["anna"])
    return cast


def browser(app, cast, who):
    return signed_in(app, None if who == "anonymous" else cast[who])


def stored() -> list[tuple]:
    """Every message as (thread's client, thread's pair, author, body), oldest first."""
    db.session.expire_all()
    return [(t.client_id, t.pair_id, m.author_id, m.body) for m, t in db.session.execute(
        sa.select(Message, MessageThread).join(MessageThread, MessageThread.id == Message.thread_id)
        .order_by(Message.id))]


def once_key(html: str) -> str:
    return re.search(r'name="once"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="once"', html).group(1)


def write(who_browser, url: str, body: str, **extra):
    return who_browser.post(url, data={"body": body, **extra})


def count_in_nav(html: str) -> int:
    """The unread count on the Messages link (0 when it shows none)."""
    match = re.search(r'href="/messages">Messages(?: <span class="nav-count">(\d+))?', html)
    assert match, "no Messages link in the header"
    return int(match.group(1) or 0)


def audit_rows(action: str) -> list[tuple]:
    db.session.expire_all()
    return [(e.actor_id, e.subject_id, e.object_type, e.object_id) for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


# --- who reads and writes which thread -----------------------------------------------------

# (read, write) per person: the status of the GET, and of a POST that sends "Hello".
CLIENT_THREAD = {"maria": (200, 302), "ruth": (200, 302), "anna": (404, 404), "elena": (404, 404),
                 "sam": (404, 404), "priya": (404, 404), "anonymous": ("login", "login")}
PAIR_THREAD = {"maria": (200, 302), "anna": (200, 302), "ruth": (200, 302), "elena": (404, 404),
               "sam": (404, 404), "priya": (404, 404), "anonymous": ("login", "login")}


def _status(response, want):
    if want == "login":
        return response.status_code == 302 and "/login" in response.location
    return response.status_code == want


@pytest.mark.parametrize("who", PEOPLE)
def test_a_clients_thread_is_hers_and_her_therapists(app, cast, who):
    want_read, want_write = CLIENT_THREAD[who]
    url = f"/messages/clients/{cast['maria'].id}"
    person = browser(app, cast, who)
    page = person.get(url)
    assert _status(page, want_read), (who, page.status_code)
    if want_read == 200:
        assert "Messages with" in text_of(page)
    response = write(person, url, f"Hello from {who}")
    assert _status(response, want_write), (who, response.status_code)
    expected = [(cast["maria"].id, None, cast[who].id, f"Hello from {who}")] if want_write == 302 else []
    assert stored() == expected
    if want_write == 302:  # the message is then on the page, for both sides
        for reader in ("maria", "ruth"):
            assert f"Hello from {who}" in text_of(browser(app, cast, reader).get(url))


@pytest.mark.parametrize("who", PEOPLE)
def test_a_pairs_thread_is_its_members_and_their_therapists(app, cast, who):
    want_read, want_write = PAIR_THREAD[who]
    url = f"/messages/pairs/{cast['pair'].id}"
    person = browser(app, cast, who)
    page = person.get(url)
    assert _status(page, want_read), (who, page.status_code)
    response = write(person, url, f"Hello from {who}")
    assert _status(response, want_write), (who, response.status_code)
    expected = [(None, cast["pair"].id, cast[who].id, f"Hello from {who}")] if want_write == 302 else []
    assert stored() == expected
    if want_write == 302:
        for reader in ("maria", "anna", "ruth"):
            assert f"Hello from {who}" in text_of(browser(app, cast, reader).get(url))


def test_a_client_reads_her_own_thread_on_messages_and_her_pairs_beside_it(app, cast):
    maria = browser(app, cast, "maria")
    write(browser(app, cast, "ruth"), f"/messages/clients/{cast['maria'].id}", "How was Sunday?")
    write(browser(app, cast, "anna"), f"/messages/pairs/{cast['pair'].id}", "Words for all three.")
    page = maria.get("/messages")
    text = text_of(page)
    assert page.status_code == 200 and "How was Sunday?" in text
    assert "Words for all three." not in text  # the pair's thread is a page of its own
    assert f"With {cast['ruth'].name} and your daughter" in text
    assert "partner" not in text.lower()
    html = page.get_data(as_text=True)
    assert f'href="/messages/pairs/{cast["pair"].id}"' in html
    # Elena, in no pair, has one conversation and an empty state naming her therapist.
    elena = browser(app, cast, "elena").get("/messages")
    assert f"No messages yet. Write to {cast['ruth'].name} below." in text_of(elena)
    assert 'aria-label="Your conversations"' not in elena.get_data(as_text=True)
    assert 'aria-label="Your conversations"' in html


def test_the_therapist_has_an_inbox_and_a_message_link_on_each_client_and_pair_page(app, cast):
    ruth = browser(app, cast, "ruth")
    inbox = ruth.get("/messages")
    assert inbox.status_code == 200 and "No messages yet." in text_of(inbox)
    assert f'href="/messages/clients/{cast["maria"].id}"' in ruth.get(
        f"/clients/{cast['maria'].id}").get_data(as_text=True)
    assert f'href="/messages/pairs/{cast["pair"].id}"' in ruth.get(
        f"/pairs/{cast['pair'].id}").get_data(as_text=True)


def test_threads_are_made_by_the_first_message_only(app, cast):
    for who in ("ruth", "maria"):
        browser(app, cast, who).get(f"/messages/clients/{cast['maria'].id}")
    browser(app, cast, "ruth").get(f"/messages/pairs/{cast['pair'].id}")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageThread)) == 0
    write(browser(app, cast, "maria"), "/messages/clients/%d" % cast["maria"].id, "First")
    write(browser(app, cast, "ruth"), "/messages/clients/%d" % cast["maria"].id, "Second")
    threads = db.session.scalars(sa.select(MessageThread)).all()
    assert [(t.client_id, t.therapist_id) for t in threads] == [(cast["maria"].id, cast["ruth"].id)]


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["", "   \n\t  "])
def test_an_empty_message_is_refused_with_nothing_stored(app, cast, body):
    response = write(browser(app, cast, "maria"), f"/messages/clients/{cast['maria'].id}", body)
    assert response.status_code == 400
    assert "Write your message before sending it." in text_of(response)
    assert stored() == []


def test_a_message_over_the_limit_is_refused_and_its_text_kept(app, cast):
    url = f"/messages/clients/{cast['maria'].id}"
    long_text = "Sunday again. " * (MESSAGE_MAX_LENGTH // 14) + "The end."
    assert len(long_text) > MESSAGE_MAX_LENGTH
    response = write(browser(app, cast, "maria"), url, long_text)
    assert response.status_code == 400
    assert f"up to {MESSAGE_MAX_LENGTH:,} characters" in text_of(response)
    assert textarea(response.get_data(as_text=True), "body") == long_text.strip()
    assert stored() == []
    exactly = "x" * MESSAGE_MAX_LENGTH
    assert write(browser(app, cast, "maria"), url, exactly).status_code == 302
    assert [row[3] for row in stored()] == [exactly]


@pytest.mark.parametrize("who,url", [
    ("maria", "/messages/clients/{elena}"),   # another client of the same therapist
    ("maria", "/messages/clients/{ruth}"),    # a therapist is no client
    ("maria", "/messages/clients/{priya}"),   # another practice
    ("sam", "/messages/clients/{maria}"),
    ("elena", "/messages/pairs/{pair}"),
    ("sam", "/messages/pairs/{pair}"),
    ("maria", "/messages/clients/999999"),
    ("maria", "/messages/pairs/999999"),
])
def test_someone_elses_thread_is_not_found(app, cast, who, url):
    url = url.format(**{k: v.id for k, v in cast.items()})
    person = browser(app, cast, who)
    assert person.get(url).status_code == 404
    assert write(person, url, "Let me in").status_code == 404
    assert stored() == []


@pytest.mark.parametrize("how", ["left", "dissolved"])
def test_an_ended_pair_closes_its_thread_to_its_members_and_keeps_it_for_the_therapist(app, cast, how):
    url = f"/messages/pairs/{cast['pair'].id}"
    assert write(browser(app, cast, "anna"), url, "Before the end.").status_code == 302
    maria = browser(app, cast, "maria")
    maria_page = maria.get(url).get_data(as_text=True)  # open in her tab before the pair ends
    if how == "left":
        pair_services.leave_pair(cast["anna"], cast["pair"])
    else:
        pair_services.dissolve_pair(cast["ruth"], cast["pair"])

    response = maria.post(url, data={"body": "Did you get my letter?", "once": once_key(maria_page)})
    assert response.status_code == 409
    text = text_of(response)
    assert "conversation is closed" in text and "Nothing was sent" in text
    assert "Before the end." not in text  # what the other wrote is no longer hers to read
    assert textarea(response.get_data(as_text=True), "body") == "Did you get my letter?"
    # ... and she may send it to her therapist alone, from that page
    assert f'action="/messages/clients/{cast["maria"].id}"' in response.get_data(as_text=True)
    assert [row[3] for row in stored()] == ["Before the end."]
    for member in ("maria", "anna"):
        page = browser(app, cast, member).get(url)
        assert page.status_code == 404 and "Before the end." not in text_of(page)
    # The therapist still reads it, and cannot write in it.
    ruth = browser(app, cast, "ruth")
    page = ruth.get(url)
    assert page.status_code == 200 and "Before the end." in text_of(page)
    assert f'action="{url}"' not in page.get_data(as_text=True)
    refused = write(ruth, url, "One more thing")
    assert refused.status_code == 409 and "This pair has ended" in text_of(refused)
    assert "One more thing" in refused.get_data(as_text=True)
    assert [row[3] for row in stored()] == ["Before the end."]
    # The text Maria kept goes to her own thread with the same form.
    resend = maria.post(f"/messages/clients/{cast['maria'].id}",
                        data={"body": "Did you get my letter?", "once": once_key(maria_page)})
    assert resend.status_code == 302
    assert stored()[-1] == (cast["maria"].id, None, cast["maria"].id, "Did you get my letter?")


def test_a_pending_pair_has_no_thread_to_write_in(app, cast):
    newcomer = make_client(cast["ruth"], "Nadia")
    pending = link(cast["ruth"], cast["elena"], newcomer, labels=("sister", "sister"), accepted_by=("first",))
    url = f"/messages/pairs/{pending.id}"
    assert browser(app, cast, "elena").get(url).status_code == 404
    assert write(browser(app, cast, "elena"), url, "Hello?").status_code == 409
    refused = write(browser(app, cast, "ruth"), url, "Hello both")
    assert refused.status_code == 409 and "once both have accepted" in text_of(refused)
    assert stored() == []


def test_a_closed_account_gets_no_more_messages_and_the_text_is_kept(app, cast):
    url = f"/messages/clients/{cast['maria'].id}"
    assert write(browser(app, cast, "maria"), url, "Thank you for everything.").status_code == 302
    ruth = browser(app, cast, "ruth")
    assert ruth.post(f"/clients/{cast['maria'].id}/close").status_code == 302
    page = ruth.get(url)
    assert page.status_code == 200 and "Thank you for everything." in text_of(page)
    assert f'action="{url}"' not in page.get_data(as_text=True)
    response = write(ruth, url, "Take care of yourself.")
    assert response.status_code == 409
    assert "account is closed" in text_of(response) and "Nothing was sent" in text_of(response)
    assert "Take care of yourself." in response.get_data(as_text=True)
    assert [row[3] for row in stored()] == ["Thank you for everything."]


def test_the_same_form_sent_twice_stores_one_message(app, cast):
    maria = browser(app, cast, "maria")
    key = once_key(maria.get("/messages").get_data(as_text=True))
    url = f"/messages/clients/{cast['maria'].id}"
    first = maria.post(url, data={"body": "Only once, please.", "once": key})
    again = maria.post(url, data={"body": "Only once, please.", "once": key})
    assert first.status_code == again.status_code == 302
    assert [row[3] for row in stored()] == ["Only once, please."]
    assert "That message was sent already." in flashes(maria.get(again.location))
    # A refused post spends no key: the same form, corrected, still sends.
    key = once_key(maria.get("/messages").get_data(as_text=True))
    assert maria.post(url, data={"body": "", "once": key}).status_code == 400
    assert db.session.get(OnceKey, (cast["maria"].id, key)) is None
    assert maria.post(url, data={"body": "Second thought.", "once": key}).status_code == 302
    assert [row[3] for row in stored()] == ["Only once, please.", "Second thought."]


# --- replies to feedback --------------------------------------------------------------------------

@pytest.fixture
def feedback(cast):
    """Maria's sent reflection with Ruth's feedback, and one without feedback."""
    task = assign(cast["ruth"], cast["maria"], title="Catch a good moment")
    with_feedback = submit(cast["maria"], task)
    review.give_feedback(cast["ruth"], with_feedback, "Well noticed. What helped?", mark_reviewed=True)
    without = submit(cast["maria"], assign(cast["ruth"], cast["maria"], title="Quiet one"))
    cast.update(task=task, reflection=with_feedback, no_feedback=without)
    return cast


def test_a_reply_to_feedback_lands_in_her_thread_linked_to_the_reflection(app, feedback):
    cast = feedback
    maria = browser(app, cast, "maria")
    task_page = maria.get(f"/tasks/{cast['task'].id}").get_data(as_text=True)
    reply_url = f"/messages/about/{cast['reflection'].id}"
    assert f'href="{reply_url}"' in task_page and "Reply to this feedback" in task_page
    page = maria.get(reply_url)
    assert page.status_code == 200
    assert "About: Catch a good moment" in text_of(page)
    html = page.get_data(as_text=True)
    assert re.search(r'name="reflection_id"[^>]*value="%d"' % cast["reflection"].id, html)
    response = maria.post(f"/messages/clients/{cast['maria'].id}",
                          data={"body": "It helped to breathe first.", "reflection_id": str(cast["reflection"].id),
                                "once": once_key(html)})
    assert response.status_code == 302
    [message] = db.session.scalars(sa.select(Message)).all()
    assert message.reflection_id == cast["reflection"].id
    # "About" links to her task page for her, and to the review page for her therapist.
    mine = maria.get("/messages").get_data(as_text=True)
    assert f'About: <a href="/tasks/{cast["task"].id}">Catch a good moment</a>' in mine
    theirs = browser(app, cast, "ruth").get(f"/messages/clients/{cast['maria'].id}").get_data(as_text=True)
    assert f'About: <a href="/reflections/{cast["reflection"].id}">Catch a good moment</a>' in theirs
    # Her therapist's reading page has no reply button: replying is the author's.
    review_page = browser(app, cast, "ruth").get(f"/reflections/{cast['reflection'].id}").get_data(as_text=True)
    assert reply_url not in review_page


def test_only_her_own_reflection_with_feedback_can_be_answered(app, feedback):
    cast = feedback
    maria = browser(app, cast, "maria")
    # No feedback yet: no button, and the link leads to her messages without it.
    task_page = maria.get(f"/tasks/{cast['no_feedback'].assignment_id}").get_data(as_text=True)
    assert "Reply to this feedback" not in task_page
    response = maria.get(f"/messages/about/{cast['no_feedback'].id}")
    assert response.status_code == 302 and response.location.endswith("/messages")
    # Posting such an id, or another person's, stores nothing and keeps the text.
    elena_task = assign(cast["ruth"], cast["elena"])
    elenas = submit(cast["elena"], elena_task)
    review.give_feedback(cast["ruth"], elenas, "For Elena.", mark_reviewed=False)
    for reflection_id in (cast["no_feedback"].id, elenas.id, 999999, "abc"):
        refused = maria.post(f"/messages/clients/{cast['maria'].id}",
                             data={"body": "About that one.", "reflection_id": str(reflection_id)})
        assert refused.status_code == 400, reflection_id
        assert "own reflections only" in text_of(refused)
        assert textarea(refused.get_data(as_text=True), "body") == "About that one."
    assert stored() == []
    # Someone else's reflection is not found; the therapist has the wrong role.
    assert browser(app, cast, "elena").get(f"/messages/about/{cast['reflection'].id}").status_code == 404
    assert browser(app, cast, "ruth").get(f"/messages/about/{cast['reflection'].id}").status_code == 403
    # Her therapist cannot attach one either.
    refused = browser(app, cast, "ruth").post(f"/messages/clients/{cast['maria'].id}", data={
        "body": "Re your reflection", "reflection_id": str(cast["reflection"].id)})
    assert refused.status_code == 400 and stored() == []


# --- read state, counts and notifications ------------------------------------------------------

def test_read_state_for_both_sides(app, cast):
    url = f"/messages/clients/{cast['maria'].id}"
    maria, ruth = browser(app, cast, "maria"), browser(app, cast, "ruth")
    write(maria, url, "Are you there?")
    write(maria, url, "Something happened.")
    assert "Read" not in text_of(maria.get("/messages")).split("Something happened.")[1].split("Write to")[0]
    assert count_in_nav(ruth.get("/caseload").get_data(as_text=True)) == 1  # one conversation
    inbox = ruth.get("/messages").get_data(as_text=True)
    assert re.search(r'>%s</a>\s*<span class="count">2<' % re.escape(cast["maria"].name), inbox)

    page = ruth.get(url)  # opening it marks it read
    assert "New" in text_of(page)
    assert count_in_nav(ruth.get("/caseload").get_data(as_text=True)) == 0
    thread = db.session.scalar(sa.select(MessageThread))
    newest = db.session.scalar(sa.select(sa.func.max(Message.id)))
    assert db.session.get(MessageRead, (thread.id, cast["ruth"].id)).read_up_to == newest
    after = text_of(maria.get("/messages"))
    assert after.split("Something happened.")[1].lstrip().startswith("Read")

    write(ruth, url, "I am here. Tell me.")
    assert count_in_nav(maria.get("/home").get_data(as_text=True)) == 1
    assert "Read" not in text_of(ruth.get(url)).split("I am here. Tell me.")[1].split("Write to")[0]
    maria.get("/messages")
    assert count_in_nav(maria.get("/home").get_data(as_text=True)) == 0
    assert text_of(ruth.get(url)).split("I am here. Tell me.")[1].lstrip().startswith("Read")

    # A message that arrives while she types stays new for her: sending is not reading.
    write(ruth, url, "Written while Maria was typing.")
    write(maria, url, "Sent from the page opened before it.")
    assert count_in_nav(maria.get("/home").get_data(as_text=True)) == 1
    page = text_of(maria.get("/messages"))
    assert "New " + cast["ruth"].name in page.split("Tell me.")[1]
    assert count_in_nav(maria.get("/home").get_data(as_text=True)) == 0


def test_the_unread_counts_follow_who_may_read_what(app, cast):
    """The header's count (counted by the sign-in loader) and the count asked outside a request
    agree, and a thread she may no longer read counts for nothing."""
    from app.messages.reading import unread_total

    own, pair = f"/messages/clients/{cast['maria'].id}", f"/messages/pairs/{cast['pair'].id}"
    write(browser(app, cast, "ruth"), own, "To Maria")
    write(browser(app, cast, "ruth"), pair, "To both")
    write(browser(app, cast, "anna"), pair, "From Anna")
    write(browser(app, cast, "priya"), f"/messages/clients/{cast['priya'].id}", "To Sam")

    def counts():
        db.session.expire_all()
        shown = {who: count_in_nav(browser(app, cast, who).get("/notifications").get_data(as_text=True))
                 for who in ("maria", "anna", "ruth", "elena", "sam", "priya")}
        scoped = {who: unread_total(db.session.get(User, cast[who].id)) for who in shown}
        assert shown == scoped
        return shown

    # The count is of conversations with something new: Maria's own thread and her pair's.
    assert counts() == {"maria": 2, "anna": 1, "ruth": 1, "elena": 0, "sam": 1, "priya": 0}
    pair_services.leave_pair(cast["anna"], cast["pair"])
    assert counts() == {"maria": 1, "anna": 0, "ruth": 1, "elena": 0, "sam": 1, "priya": 0}


def test_in_a_pair_thread_the_author_sees_who_has_read_it(app, cast):
    url = f"/messages/pairs/{cast['pair'].id}"
    anna = browser(app, cast, "anna")
    write(anna, url, "Can we talk about Sunday?")
    assert "Read by" not in text_of(anna.get(url))
    browser(app, cast, "maria").get(url)
    assert f"Read by {cast['maria'].name} (your mother)" in text_of(anna.get(url))
    browser(app, cast, "ruth").get(url)
    assert f"Read by {cast['ruth'].name} and {cast['maria'].name} (your mother)" in text_of(anna.get(url))


def test_a_new_message_notifies_the_others_without_its_content(app, cast):
    url = f"/messages/pairs/{cast['pair'].id}"
    secret = "The secret about the move"
    write(browser(app, cast, "maria"), url, secret)
    write(browser(app, cast, "maria"), url, "And one more thing")
    db.session.expire_all()
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "new_message")
                               .order_by(Notification.user_id)).all()
    # One notice per person and thread until she opens it (two messages, one notice each).
    assert sorted((n.user_id, n.link) for n in notes) == sorted(
        [(cast["ruth"].id, url), (cast["anna"].id, url)])
    for note in notes:
        assert all(secret not in str(getattr(note, c.key)) for c in Notification.__table__.columns)
    page = text_of(browser(app, cast, "anna").get("/notifications"))
    assert "A new message" in page and secret not in page
    # Opening the thread reads its notice.
    browser(app, cast, "anna").get(url)
    db.session.expire_all()
    assert db.session.scalar(sa.select(Notification.read_at).where(
        Notification.user_id == cast["anna"].id, Notification.kind == "new_message")) is not None
    assert db.session.scalar(sa.select(Notification.read_at).where(
        Notification.user_id == cast["ruth"].id, Notification.kind == "new_message")) is None
    # A client's own thread: her link is /messages, her therapist's the client's thread.
    write(browser(app, cast, "ruth"), f"/messages/clients/{cast['elena'].id}", "Hello Elena")
    assert db.session.scalar(sa.select(Notification.link).where(
        Notification.user_id == cast["elena"].id, Notification.kind == "new_message")) == "/messages"


def test_the_inbox_lists_unread_first_then_the_newest_and_pages(app, cast):
    ruth = browser(app, cast, "ruth")
    clients = [make_client(cast["ruth"], f"Client{i:02d}") for i in range(24)]
    for client in clients:
        write(ruth, f"/messages/clients/{client.id}", "Checking in.")
    write(browser(app, cast, "elena"), f"/messages/clients/{cast['elena'].id}", "Unread for Ruth")
    write(ruth, f"/messages/clients/{cast['maria'].id}", "Newest of Ruth's own")
    first = ruth.get("/messages").get_data(as_text=True)
    names = re.findall(r'<a href="/messages/clients/\d+">([^<]+)</a>', first)
    assert names[0] == cast["elena"].name  # unread first
    assert names[1] == cast["maria"].name  # then the newest
    assert len(names) == 20 and "Page 1 of 2" in text_of(ruth.get("/messages"))
    second = ruth.get("/messages?page=2").get_data(as_text=True)
    assert len(re.findall(r'<a href="/messages/clients/\d+">', second)) == 6
    assert ruth.get("/messages?page=99999999999").status_code == 200


# --- the audit trail ------------------------------------------------------------------------------

def test_every_read_of_someone_elses_words_is_audited_once_per_open(app, cast):
    url = f"/messages/clients/{cast['maria'].id}"
    write(browser(app, cast, "maria"), url, "For Ruth.")
    thread = db.session.scalar(sa.select(MessageThread))
    before = len(audit_rows("read_messages"))
    browser(app, cast, "maria").get("/messages")  # her own words: not a read of someone else's
    assert len(audit_rows("read_messages")) == before
    ruth = browser(app, cast, "ruth")
    ruth.get(url)
    ruth.get(url)
    assert audit_rows("read_messages")[before:] == [
        (cast["ruth"].id, cast["maria"].id, "MessageThread", thread.id)] * 2

    pair_url = f"/messages/pairs/{cast['pair'].id}"
    write(browser(app, cast, "maria"), pair_url, "For both.")
    pair_thread = db.session.scalar(sa.select(MessageThread).where(MessageThread.pair_id == cast["pair"].id))
    before = len(audit_rows("read_messages"))
    browser(app, cast, "anna").get(pair_url)
    assert audit_rows("read_messages")[before:] == [
        (cast["anna"].id, cast["maria"].id, "MessageThread", pair_thread.id)]
    before = len(audit_rows("read_messages"))
    ruth.get(pair_url)
    assert sorted(audit_rows("read_messages")[before:]) == sorted([
        (cast["ruth"].id, cast["maria"].id, "MessageThread", pair_thread.id),
        (cast["ruth"].id, cast["anna"].id, "MessageThread", pair_thread.id)])
    # A refused visitor leaves no read behind.
    before = len(audit_rows("read_messages"))
    browser(app, cast, "elena").get(pair_url)
    browser(app, cast, "sam").get(url)
    assert len(audit_rows("read_messages")) == before
    # Writing is in the trail too, naming whose record it is.
    assert (cast["ruth"].id, cast["maria"].id) not in {r[:2] for r in audit_rows("message_sent")}
    write(ruth, url, "Reply.")
    assert (cast["ruth"].id, cast["maria"].id, "Message") in {r[:3] for r in audit_rows("message_sent")}


# --- at rest, in the record ----------------------------------------------------------------------

def test_a_message_is_encrypted_at_rest_and_its_words_are_nowhere_else(app, cast, mailbox):
    from tests.test_encryption import tables_holding

    cast["ruth"].email_notifications = True
    db.session.commit()
    marker = "Zebrafish-move-" + re.sub(r"\W", "", str(utcnow().timestamp()))
    plain = f"What I never told my mother about the {marker} — ünïcødé 🌱"
    write(browser(app, cast, "maria"), f"/messages/clients/{cast['maria'].id}", plain)
    # The column as stored (a plain Text column over the same table, so nothing decrypts it).
    raw = db.session.execute(sa.select(sa.column("body", sa.Text)).select_from(sa.table("messages"))).scalar_one()
    assert raw.startswith("enc:v1:") and marker not in raw and "ünïcødé" not in raw
    # Not in any column of any table either: notifications, audit rows, the outbox.
    assert tables_holding(marker) == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(Message.body)) == plain
    assert plain in browser(app, cast, "ruth").get(f"/messages/clients/{cast['maria'].id}").get_data(as_text=True)
    # The email that tells Ruth says only that there is something new, and where.
    [email] = mailbox.to(cast["ruth"].email)
    body = mailbox.body(email)
    assert marker not in email.as_string() and "never told" not in body
    assert any(link.endswith(f"/messages/clients/{cast['maria'].id}") for link in mailbox.links(email))


def test_her_export_holds_her_messages_and_never_the_other_members(app, cast):
    own, pair = f"/messages/clients/{cast['maria'].id}", f"/messages/pairs/{cast['pair'].id}"
    write(browser(app, cast, "maria"), own, "Maria to Ruth")
    write(browser(app, cast, "ruth"), own, "Ruth to Maria")
    write(browser(app, cast, "maria"), pair, "Maria to both")
    write(browser(app, cast, "anna"), pair, "Anna to both")
    write(browser(app, cast, "ruth"), pair, "Ruth to both")

    record = browser(app, cast, "maria").get("/export.json").get_json()
    texts = {t["with"]: [m["text"] for m in t["messages"]] for t in record["messages"]}
    assert texts == {cast["ruth"].name: ["Maria to Ruth", "Ruth to Maria"],
                     f"{cast['ruth'].name} and {cast['anna'].name}": ["Maria to both", "Ruth to both"]}
    page = text_of(browser(app, cast, "maria").get("/export"))
    assert "Ruth to Maria" in page and "Maria to both" in page and "Anna to both" not in page

    annas = browser(app, cast, "anna").get("/export.json").get_json()
    anna_texts = [m["text"] for t in annas["messages"] for m in t["messages"]]
    assert anna_texts == ["Anna to both", "Ruth to both"]
    # Her therapist's export of her record: the same, never the other member's words.
    ruths = browser(app, cast, "ruth").get(f"/clients/{cast['maria'].id}/export.json").get_json()
    assert "Anna to both" not in str(ruths["messages"]) and "Maria to both" in str(ruths["messages"])


# --- the words above the box ------------------------------------------------------------------

def test_the_therapists_words_and_the_crisis_numbers_are_above_every_box(app, cast):
    crisis = app.config["CRISIS_TEXT"]
    maria = browser(app, cast, "maria")
    page = maria.get("/messages").get_data(as_text=True)
    write_section = page.split('id="write"')[1]
    assert "not for emergencies" in text_of_html(write_section) and crisis in text_of_html(write_section)
    assert "Do not wait for a reply." in text_of_html(write_section)

    ruth = browser(app, cast, "ruth")
    words = "I read messages on weekday mornings; I reply within two working days."
    assert ruth.post("/messages/hours", data={"message_hours": words}).status_code == 302
    for url in ("/messages", f"/messages/pairs/{cast['pair'].id}"):
        section = maria.get(url).get_data(as_text=True).split('id="write"')[1]
        assert words in text_of_html(section) and crisis in text_of_html(section)
    too_long = ruth.post("/messages/hours", data={"message_hours": "x" * 301})
    assert too_long.status_code == 400 and "x" * 301 in too_long.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, cast["ruth"].id).message_hours == words
    assert browser(app, cast, "maria").post("/messages/hours", data={"message_hours": "Mine"}).status_code == 403


def text_of_html(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").replace("&amp;", "&").split())


def test_times_are_shown_in_the_readers_own_zone(app, cast):
    write(browser(app, cast, "maria"), f"/messages/clients/{cast['maria'].id}", "Timed.")
    message = db.session.scalar(sa.select(Message))
    message.created_at = datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc)
    cast["ruth"].timezone = "Asia/Tokyo"
    cast["maria"].timezone = "America/New_York"
    db.session.commit()
    assert "16 Jan 2026, 08:30" in text_of(browser(app, cast, "ruth").get(f"/messages/clients/{cast['maria'].id}"))
    assert "15 Jan 2026, 18:30" in text_of(browser(app, cast, "maria").get("/messages"))


def test_an_old_thread_shows_its_newest_messages_and_pages_back(app, cast):
    thread = MessageThread(therapist_id=cast["ruth"].id, client_id=cast["maria"].id, last_message_at=utcnow())
    db.session.add(thread)
    db.session.flush()
    db.session.add_all(Message(thread_id=thread.id, author_id=cast["maria"].id, body=f"Note number {i}")
                       for i in range(60))
    db.session.commit()
    maria = browser(app, cast, "maria")
    newest = text_of(maria.get("/messages"))
    assert "Note number 59" in newest and "Note number 10 " in newest and "Note number 9 " not in newest
    assert "Earlier messages" in newest
    earlier = text_of(maria.get("/messages?page=2"))
    assert "Note number 0 " in earlier and "Note number 10 " not in earlier and "Newer messages" in earlier


def test_a_closed_account_closes_the_pairs_conversation_and_its_count(app, cast):
    from app.accounts.closing import close_account
    from app.messages.reading import unread_total

    write(browser(app, cast, "anna"), f"/messages/pairs/{cast['pair'].id}", "From Anna")
    write(browser(app, cast, "ruth"), f"/messages/clients/{cast['maria'].id}", "To Maria")
    assert count_in_nav(browser(app, cast, "maria").get("/home").get_data(as_text=True)) == 2
    close_account(cast["ruth"], db.session.get(User, cast["anna"].id))
    assert count_in_nav(browser(app, cast, "maria").get("/home").get_data(as_text=True)) == 1
    assert unread_total(db.session.get(User, cast["ruth"].id)) == 1  # the therapist still reads it
