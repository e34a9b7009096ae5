"""The outbox (app/notifications/outbox.py): every email is written with the change that causes
it, sent afterwards against a real SMTP server, kept while the server is down, sent exactly once
when it is back, never sent twice by two workers or after a worker was killed mid-send."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    OUTBOX_DROPPED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    Notification,
    OutboxItem,
    User,
    utcnow,
)
from app.notifications import digest, outbox, quiet_hours
from app.notifications.deliverer import wait_until_delivered
from app.notifications.services import notify
from tests.conftest import Mailbox, make_client, make_therapist

ROOT = Path(__file__).resolve().parents[1]


def later(**delta) -> datetime:
    return utcnow() + timedelta(**delta)


def person(email_notifications=True, **fields) -> User:
    return make_client(make_therapist(), email_notifications=email_notifications, **fields)


def items() -> list[OutboxItem]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxItem).order_by(OutboxItem.id)).all()


@pytest.fixture
def held(app):
    """Commits queue items but wake nobody (as in production without Redis): the test delivers."""
    app.config.update(OUTBOX_DELIVERY="worker", OUTBOX_REDIS_URL=None)
    return app


# --- written with the change, or not at all ------------------------------------------------------

def test_an_email_is_queued_in_the_transaction_of_its_change_and_sent_after_it(app, mailbox):
    maria = person()
    notify(maria, "new_task", "/tasks/1")
    db.session.rollback()  # the change did not happen: neither does its email
    assert items() == [] and wait_until_delivered() and not mailbox.to(maria.email)

    notify(maria, "new_task", "/tasks/1")
    db.session.commit()
    assert len(mailbox.to(maria.email)) == 1
    [item] = items()
    assert item.status == OUTBOX_SENT and item.attempts == 1 and item.sent_at is not None
    message = mailbox.to(maria.email)[0]
    assert message["Message-ID"] == outbox.message_id(item)
    assert "/tasks/1" in Mailbox.body(message)


def test_the_body_is_encrypted_at_rest(held):
    maria = person()
    outbox.queue_email(maria.email, "Reset", "the link https://x.example/reset/SECRET-TOKEN",
                       purpose="reset", user=maria)
    db.session.commit()
    raw = db.session.execute(sa.text("SELECT body FROM outbox")).scalar_one()
    assert "SECRET-TOKEN" not in raw


# --- the mail server down, then up ------------------------------------------------------------

def test_nothing_is_lost_while_the_mail_server_is_down_and_each_email_arrives_once(held, mailbox):
    working_port = held.config["MAIL_PORT"]
    held.config.update(MAIL_PORT=1, MAIL_TIMEOUT=1)
    people = [person() for _ in range(5)]
    for someone in people:
        notify(someone, "new_feedback", "/tasks/9")
    db.session.commit()

    # Three rounds while the server is down: every item stays, each later than the last.
    now = utcnow()
    for attempt in (1, 2, 3):
        assert outbox.deliver_due(now=now) == 5
        pending = items()
        assert {i.status for i in pending} == {OUTBOX_PENDING} and {i.attempts for i in pending} == {attempt}
        wait = min(i.next_attempt_at for i in pending) - utcnow()
        base = held.config["OUTBOX_RETRY_BASE_SECONDS"]
        assert timedelta(seconds=base * 2 ** (attempt - 1) - 5) < wait <= timedelta(seconds=base * 2 ** (attempt - 1))
        assert outbox.deliver_due(now=utcnow()) == 0  # not due again before its time
        now = max(i.next_attempt_at for i in pending)
    assert not mailbox.messages

    held.config.update(MAIL_PORT=working_port)
    assert outbox.deliver_due(now=now) == 5
    assert outbox.deliver_due(now=later(days=5)) == 0
    assert sorted(m["To"] for m in mailbox.messages) == sorted(p.email for p in people)
    assert {i.status for i in items()} == {OUTBOX_SENT}


def test_an_email_is_given_up_after_the_last_attempt_and_logged(held, caplog):
    held.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=1, OUTBOX_MAX_ATTEMPTS=2)
    notify(person(), "new_task", "/tasks/1")
    db.session.commit()
    assert outbox.deliver_due(now=later(days=1)) == 1
    assert outbox.deliver_due(now=later(days=2)) == 1
    [item] = items()
    assert item.status == OUTBOX_FAILED and item.attempts == 2 and "ConnectionRefused" in item.last_error
    assert "given up after 2 attempts" in caplog.text
    assert outbox.deliver_due(now=later(days=30)) == 0


def test_a_notice_to_an_account_closed_before_it_went_is_not_sent(held, mailbox):
    maria = person()
    notify(maria, "new_task", "/tasks/1")
    db.session.commit()
    maria.closed_at = utcnow()
    db.session.commit()
    assert outbox.deliver_due() == 1
    assert items()[0].status == OUTBOX_DROPPED and not mailbox.messages


# --- two workers, one email ------------------------------------------------------------------------

def test_two_workers_at_once_send_each_email_once(held, mailbox):
    people = [person() for _ in range(24)]
    for someone in people:
        notify(someone, "new_task", "/tasks/2")
    db.session.commit()
    barrier = threading.Barrier(2)
    errors = []

    def work():
        try:
            with held.app_context():
                barrier.wait()
                while outbox.deliver_due(limit=3):
                    pass
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors
    received = [m["To"] for m in mailbox.messages]
    assert sorted(received) == sorted(p.email for p in people)  # every one, none twice
    assert {i.status for i in items()} == {OUTBOX_SENT} and {i.attempts for i in items()} == {1}


# --- a worker killed mid-send --------------------------------------------------------------------

class StallingServer:
    """An SMTP server that, for the first message, waits before acknowledging it; a client gone
    before the acknowledgement has not delivered it (the server keeps only what it acknowledged)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.kept: list[bytes] = []
        self.stalling = threading.Event()
        self.dropped = threading.Event()
        self._first = True
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if outer._first:
                    outer._first = False
                    outer.stalling.set()
                    try:  # the client's death cancels this handler (aiosmtpd's connection_lost)
                        while server.transport is not None and not server.transport.is_closing():
                            await asyncio.sleep(0.05)
                    finally:
                        outer.dropped.set()
                    return "421 client went away"
                outer.kept.append(envelope.original_content or envelope.content)
                return "250 Message accepted for delivery"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


def test_a_worker_killed_mid_send_loses_nothing_and_the_email_arrives_once(held):
    server = StallingServer()
    server.controller.start()
    lease = 3
    try:
        maria = person()
        notify(maria, "new_task", "/tasks/3")
        db.session.commit()
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/support/outbox_worker.py"),
             held.config["SQLALCHEMY_DATABASE_URI"], str(server.port), str(lease)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COMMON_GROUND_ENV": "testing"})
        try:
            assert server.stalling.wait(60), "the worker never reached the mail server"
        finally:
            worker.send_signal(signal.SIGKILL)
            output = worker.communicate(timeout=30)[0]
        assert server.dropped.wait(10), output
        [item] = items()
        assert item.status == OUTBOX_SENDING and item.attempts == 1 and not server.kept

        held.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        assert outbox.deliver_due() == 0  # its lease still runs: another may still be sending it
        assert outbox.deliver_due(now=later(seconds=lease + 1)) == 1
        assert outbox.deliver_due(now=later(days=5)) == 0
        assert len(server.kept) == 1
        [item] = items()
        assert item.status == OUTBOX_SENT and item.attempts == 2
        assert outbox.message_id(item).encode() in server.kept[0]
    finally:
        server.controller.stop()


# --- a request never waits on SMTP -----------------------------------------------------------

def test_no_email_is_sent_inside_a_request(app, client, mailbox, monkeypatch):
    from app.core import mail

    senders = []
    original = mail.send_email
    monkeypatch.setattr(mail, "send_email", lambda *a, **k: senders.append(threading.current_thread().name)
                        or original(*a, **k))
    therapist = make_therapist()
    from tests.conftest import login
    login(client, therapist)
    response = client.post("/invitations/new", data={"email": "someone.new@example.org"})
    assert response.status_code == 302
    assert len(mailbox.to("someone.new@example.org")) == 1
    assert senders == ["common-ground-outbox"]


# --- quiet hours and the daily digest, with a fixed clock --------------------------------------------

LONDON = "Europe/London"


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """A moment of 2 June 2026 (or another day) in London (summer: UTC+1), as UTC."""
    return datetime(2026, 6, day, hour - 1, minute, tzinfo=timezone.utc)


@pytest.mark.parametrize("start,end,moment,quiet", [
    (time(21), time(8), time(23), True), (time(21), time(8), time(7, 59), True),
    (time(21), time(8), time(8), False), (time(21), time(8), time(20, 59), False),
    (time(13), time(14), time(13, 30), True), (time(13), time(14), time(14), False),
    (time(9), time(9), time(9), False),
])
def test_quiet_hours_span(start, end, moment, quiet):
    assert quiet_hours.in_quiet_hours(start, end, moment) is quiet


def test_a_notice_in_her_quiet_hours_waits_until_they_end(held, mailbox, monkeypatch):
    maria = person(timezone=LONDON, quiet_from=time(21), quiet_until=time(8))
    monkeypatch.setattr(quiet_hours, "utcnow", lambda: at(23))
    notify(maria, "new_task", "/tasks/4")
    db.session.commit()
    [item] = items()
    assert item.next_attempt_at == at(8, day=3)
    assert outbox.deliver_due(now=at(7, 59, day=3)) == 0
    assert outbox.deliver_due(now=at(8, day=3)) == 1
    assert len(mailbox.to(maria.email)) == 1


def test_outside_quiet_hours_and_for_what_she_asked_for_there_is_no_wait(held, monkeypatch):
    maria = person(timezone=LONDON, quiet_from=time(21), quiet_until=time(8))
    monkeypatch.setattr(quiet_hours, "utcnow", lambda: at(12))
    notify(maria, "new_task", "/tasks/4")
    db.session.commit()
    assert items()[0].next_attempt_at == at(12)
    assert quiet_hours.send_after(maria, at(22)) == at(8, day=3)


def test_the_digest_replaces_single_emails_and_goes_once_a_day(held, mailbox):
    maria = person(timezone=LONDON, email_digest=True)
    for n in range(3):
        notify(maria, "new_feedback", f"/tasks/{n}")
    db.session.commit()
    assert items() == []  # no single emails for her
    db.session.execute(sa.update(Notification).values(created_at=at(6)))
    db.session.commit()

    assert digest.send_digests(now=at(7, 30)) == 0  # before DIGEST_HOUR (8) in her day
    assert digest.send_digests(now=at(8, 30)) == 1
    assert digest.send_digests(now=at(18)) == 0  # once a day
    assert outbox.deliver_due(now=at(8, 31)) == 1
    [message] = mailbox.to(maria.email)
    body = Mailbox.body(message)
    assert "3 new things" in body and "/notifications" in body and "/tasks/" not in body
    assert message["Subject"] == digest.DIGEST_SUBJECT

    assert digest.send_digests(now=at(9, day=3)) == 0  # nothing new since: no email at all
    notify(maria, "new_task", "/tasks/7")
    db.session.commit()
    db.session.execute(sa.update(Notification).where(Notification.link == "/tasks/7")
                       .values(created_at=at(12, day=3)))
    db.session.commit()
    assert digest.send_digests(now=at(9, day=4)) == 1


def test_the_digest_waits_for_her_quiet_hours(held):
    maria = person(timezone=LONDON, email_digest=True, quiet_from=time(6), quiet_until=time(10))
    notify(maria, "new_task", "/tasks/1")
    db.session.commit()
    db.session.execute(sa.update(Notification).values(created_at=at(5)))
    db.session.commit()
    assert digest.send_digests(now=at(9)) == 0
    assert digest.send_digests(now=at(10)) == 1


# --- the worker command, and Redis -------------------------------------------------------------

def test_the_worker_command_sends_what_is_due(held, mailbox):
    maria = person()
    notify(maria, "new_task", "/tasks/5")
    db.session.commit()
    result = held.test_cli_runner().invoke(args=["outbox-worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 item(s)." in result.output
    assert len(mailbox.to(maria.email)) == 1


REDIS_URL = os.environ.get("CG_MACHINES_REDIS_URL", "redis://127.0.0.1:6379/4")


def _redis_or_skip():
    from redis import Redis

    connection = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except Exception:
        if os.environ.get("CG_REQUIRE_BROWSER"):
            raise
        pytest.skip("Redis is not running on this machine")
    return connection


def test_with_redis_a_commit_wakes_an_rq_worker_that_sends_it(held, mailbox):
    from rq import Queue, SimpleWorker

    from app.notifications.worker import QUEUE_NAME

    connection = _redis_or_skip()
    queue = Queue(QUEUE_NAME, connection=connection)
    queue.empty()
    held.config.update(OUTBOX_REDIS_URL=REDIS_URL)
    maria = person()
    notify(maria, "new_task", "/tasks/6")
    db.session.commit()
    email = maria.email
    assert queue.count == 1
    SimpleWorker([queue], connection=connection).work(burst=True)  # ends this thread's session
    assert len(mailbox.to(email)) == 1
    assert items()[0].status == OUTBOX_SENT


def test_with_redis_unreachable_the_commit_stands_and_the_sweep_sends(held, mailbox, caplog):
    from app.notifications.worker import sweep_once

    held.config.update(OUTBOX_REDIS_URL="redis://127.0.0.1:1/0")
    maria = person()
    notify(maria, "new_task", "/tasks/6")
    db.session.commit()
    assert "Could not wake the outbox worker through Redis" in caplog.text
    assert items()[0].status == OUTBOX_PENDING
    assert sweep_once(held) == 1
    assert len(mailbox.to(maria.email)) == 1


# --- choosing them on the account page --------------------------------------------------------

def _save_account(client, user, **fields):
    data = {"name": user.name, "timezone": LONDON, "email_notifications": "y", **fields}
    return client.post("/account", data=data)


def test_she_chooses_the_digest_and_quiet_hours_on_her_account_page(app, client):
    from tests.conftest import login

    maria = person(timezone=LONDON)
    login(client, maria)
    page = client.get("/account").get_data(as_text=True)
    assert "Quiet hours" in page and "One email a day" in page
    response = _save_account(client, maria, email_digest="daily", quiet_from="21:30", quiet_until="07:15")
    assert response.status_code == 302
    db.session.expire_all()
    assert maria.email_digest is True and maria.quiet_from == time(21, 30) and maria.quiet_until == time(7, 15)
    page = client.get("/account").get_data(as_text=True)
    assert 'value="21:30"' in page and '<input checked id="email_digest-1"' in page

    # Saving without those fields (an older form) leaves them as they were; both empty clears them.
    assert _save_account(client, maria).status_code == 302
    db.session.expire_all()
    assert maria.email_digest is True and maria.quiet_from == time(21, 30)
    assert _save_account(client, maria, email_digest="each", quiet_from="", quiet_until="").status_code == 302
    db.session.expire_all()
    assert maria.email_digest is False and maria.quiet_from is None and maria.quiet_until is None


@pytest.mark.parametrize("fields,message", [
    ({"quiet_from": "22:00", "quiet_until": ""}, "Give both times of your quiet hours, or neither."),
    ({"quiet_from": "", "quiet_until": "07:00"}, "Give both times of your quiet hours, or neither."),
    ({"quiet_from": "08:00", "quiet_until": "08:00"}, "Quiet hours need to end at another time"),
    ({"quiet_from": "25:99", "quiet_until": "07:00"}, "Not a valid time value."),
    ({"email_digest": "hourly"}, "Not a valid choice."),
])
def test_bad_quiet_hours_or_frequency_are_refused_with_a_clear_message(app, client, fields, message):
    from tests.conftest import login

    maria = person(timezone=LONDON)
    login(client, maria)
    response = _save_account(client, maria, name="Changed", **fields)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert maria.name != "Changed" and maria.quiet_from is None and maria.email_digest is False


def test_finished_items_are_purged_after_thirty_days_and_waiting_ones_never(held):
    maria = person()
    for purpose in ("reset", "invitation", "notification"):
        outbox.queue_email(maria.email, "Hello", "A link", purpose=purpose, user=maria)
    db.session.commit()
    db.session.execute(sa.update(OutboxItem).values(created_at=later(days=-31)))
    db.session.execute(sa.update(OutboxItem).where(OutboxItem.purpose == "reset").values(status=OUTBOX_SENT))
    db.session.execute(sa.update(OutboxItem).where(OutboxItem.purpose == "invitation").values(status=OUTBOX_FAILED))
    db.session.commit()
    result = held.test_cli_runner().invoke(args=["purge-deleted"])
    assert result.exit_code == 0 and "2 finished email(s) and push(es)" in result.output
    assert [i.purpose for i in items()] == ["notification"]  # still waiting: kept


def test_a_push_waits_for_her_quiet_hours_too(held, monkeypatch):
    from app.models import CHANNEL_PUSH, PushSubscription

    maria = person(email_notifications=False, timezone=LONDON, quiet_from=time(22), quiet_until=time(7))
    db.session.add(PushSubscription(user_id=maria.id, endpoint="https://fcm.googleapis.com/fcm/send/q",
                                    p256dh="B" + "A" * 86, auth="A" * 22))
    db.session.commit()
    monkeypatch.setattr(quiet_hours, "utcnow", lambda: at(23, 30))
    notify(maria, "new_message", "/messages")
    db.session.commit()
    [item] = items()  # no email (she has none), one push, held until 07:00 her time
    assert item.channel == CHANNEL_PUSH and item.next_attempt_at == at(7, day=3)
    assert '"You have a new message in Common Ground"' in item.body and "/messages" in item.body
