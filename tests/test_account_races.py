"""Accounts under concurrent requests: a decision that rests on the account (a reset link not used
yet, the current password, a lock, an open account or invitation, a code not used yet) holds
when another request changes it at the same moment.

On SQLite every write request takes the one write lock before its first read, so these pass
there by construction; on PostgreSQL (READ COMMITTED) two requests interleave. Most tests here
are deterministic: another transaction writes what a request under way writes and holds it,
uncommitted, while the request under test runs; it commits once that request waits for it (seen
waiting on a lock in pg_stat_activity), and the request must then decide on what is there now."""
from __future__ import annotations

import html
import re
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa

from app.accounts import two_factor
from app.accounts.invitations import invitation_token
from app.accounts.routes import SIGN_IN_REFUSED
from app.accounts.services import LOCKOUT_AFTER, make_reset_token
from app.accounts.two_factor import _hash_code, regenerate_recovery_codes
from app.core.passwords import hash_password
from app.extensions import db
from app.models import AuditEvent, Invitation, LoginSession, OutboxItem, RecoveryCode, User, utcnow
from tests.conftest import (
    PASSWORD,
    TOTP_SECRET,
    Mailbox,
    fresh_totp_code,
    login,
    make_client,
    make_therapist,
)

FIRST = "lanterns drifting past the old mill"
SECOND = "a heron standing in the shallows"


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def signed_in(browser) -> bool:
    return browser.get("/account/password").status_code == 200


def can_sign_in(app, user, password) -> bool:
    response = app.test_client().post("/login", data={"email": user.email, "password": password})
    return response.status_code == 302


def audit_count(action: str, subject_id: int | None = None) -> int:
    query = sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == action)
    if subject_id is not None:
        query = query.where(AuditEvent.subject_id == subject_id)
    return db.session.scalar(query)


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def _wait_until_it_waits(thread: threading.Thread) -> None:
    """Return once the request in `thread` waits for a lock (PostgreSQL), or has ended. SQLite's
    wait is in the app's writers' queue, out of sight: a moment is given, and whether it came
    there yet or not, it takes the write lock only after the commit either way."""
    if db.engine.dialect.name != "postgresql":
        thread.join(timeout=0.3)
        return
    deadline = time.monotonic() + 15
    with db.engine.connect() as watcher:
        while thread.is_alive() and time.monotonic() < deadline:
            waiting = watcher.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            watcher.rollback()  # a new snapshot of pg_stat_activity at each look
            if waiting:
                return
            time.sleep(0.01)


def while_another_request_writes(statements, send):
    """`send()` (one request) runs while another transaction has run `statements` and not
    committed; that one commits as soon as the request waits for it. The request's response."""
    outcome = {}

    def run():
        try:
            outcome["response"] = send()
        except Exception as exc:  # a thread's exception is otherwise lost
            outcome["error"] = exc

    with db.engine.connect() as other:
        for statement in statements:
            other.execute(statement)
        thread = threading.Thread(target=run)
        thread.start()
        _wait_until_it_waits(thread)
        other.commit()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the request never finished"
    assert "error" not in outcome, outcome.get("error")
    return outcome["response"]


def at_once(*sends):
    """Run the requests (callables) in threads released together; their responses, in order."""
    barrier, answers, errors = threading.Barrier(len(sends)), [None] * len(sends), []

    def run(i):
        try:
            barrier.wait(timeout=10)
            answers[i] = sends[i]()
        except Exception as exc:  # a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return answers


def _post(browser, path, data):
    return lambda: browser.post(path, data=data)


def hold_user(user_id: int):
    """What each account service now does first: lock the account's row."""
    return sa.select(User.id).where(User.id == user_id).with_for_update()


# --- the password reset link ---------------------------------------------------------------------

def test_a_reset_link_used_while_another_request_resets_with_it_is_refused(app):
    person = make_client(make_therapist())
    path = f"/reset/{make_reset_token(person)}"
    response = while_another_request_writes(
        [sa.update(User).where(User.id == person.id).values(password_hash=hash_password(FIRST))],
        lambda: app.test_client().post(path, data={"password": SECOND, "confirm": SECOND}))
    assert response.status_code == 410, response.status_code
    assert "This reset link has already been used." in page(response)
    assert can_sign_in(app, person, FIRST)
    assert not can_sign_in(app, person, SECOND)
    assert audit_count("password_reset", person.id) == 0  # the other request's reset, not this one


def test_the_same_reset_link_sent_twice_at_once_sets_one_password(app):
    person = make_client(make_therapist())
    for round_ in range(3):
        path = f"/reset/{make_reset_token(fresh(User, person.id))}"
        words = {who: f"{who} {FIRST} {round_}" for who in ("one", "two")}
        answers = dict(zip(words, at_once(*(
            _post(app.test_client(), path, {"password": w, "confirm": w}) for w in words.values())), strict=True))
        statuses = {who: answer.status_code for who, answer in answers.items()}
        assert sorted(statuses.values()) == [302, 410], (round_, statuses)
        winner = next(who for who, status in statuses.items() if status == 302)
        loser = next(who for who in words if who != winner)
        assert "This reset link has already been used." in page(answers[loser])
        assert can_sign_in(app, person, words[winner]), round_
        assert not can_sign_in(app, person, words[loser]), round_


# --- changing one's password ------------------------------------------------------------------------

def test_a_password_change_while_another_change_commits_checks_the_new_password(app):
    therapist = make_therapist(two_factor=False)
    browser = app.test_client()
    login(browser, therapist)
    response = while_another_request_writes(
        [hold_user(therapist.id),
         sa.update(User).where(User.id == therapist.id).values(password_hash=hash_password(FIRST))],
        lambda: browser.post("/account/password", data={
            "current_password": PASSWORD, "password": SECOND, "confirm": SECOND}))
    assert response.status_code == 200, response.status_code
    assert "Your current password is not right." in page(response)
    assert can_sign_in(app, therapist, FIRST)
    assert not can_sign_in(app, therapist, SECOND)
    assert audit_count("password_changed", therapist.id) == 0


# --- the lockout --------------------------------------------------------------------------------------

def _about_to_lock(user: User) -> list:
    """The failure that locks the account, under way in another request (the count is one
    short of the lock before it)."""
    db.session.execute(sa.update(User).where(User.id == user.id).values(failed_logins=LOCKOUT_AFTER - 1))
    db.session.commit()
    return [hold_user(user.id),
            sa.update(User).where(User.id == user.id)
            .values(failed_logins=LOCKOUT_AFTER, locked_until=utcnow() + timedelta(minutes=1))]


def test_the_right_password_sent_while_parallel_guesses_lock_the_account_is_refused(app):
    person = make_client(make_therapist())
    browser = app.test_client()
    response = while_another_request_writes(
        _about_to_lock(person),
        lambda: browser.post("/login", data={"email": person.email, "password": PASSWORD}))
    assert response.status_code == 200, (response.status_code, response.location)
    assert SIGN_IN_REFUSED in page(response)
    assert not signed_in(browser)
    locked = fresh(User, person.id)
    assert locked.locked_until is not None and locked.locked_until > utcnow()
    assert locked.failed_logins == LOCKOUT_AFTER


def test_a_code_sent_while_parallel_guesses_lock_the_account_is_refused(app):
    therapist = make_therapist()
    browser = app.test_client()
    assert browser.post("/login", data={"email": therapist.email, "password": PASSWORD}
                        ).location == "/login/verify"
    code = fresh_totp_code(therapist)
    response = while_another_request_writes(
        _about_to_lock(therapist), lambda: browser.post("/login/verify", data={"code": code}))
    assert response.status_code == 302 and response.location == "/login", response.location
    assert not signed_in(browser)
    assert fresh(User, therapist.id).locked_until > utcnow()


def test_a_lock_set_after_her_code_was_accepted_stands(app, monkeypatch):
    """Her code is right and counted (verify_code commits, her row let go); parallel guesses
    lock the account before her sign-in completes: the sign-in leaves that lock as it is."""
    therapist = make_therapist()
    browser = app.test_client()
    browser.post("/login", data={"email": therapist.email, "password": PASSWORD})
    code, lock = fresh_totp_code(therapist), _about_to_lock(therapist)
    accepted, go, verify_code = threading.Event(), threading.Event(), two_factor.verify_code

    def accept_then_pause(user, code):
        ok = verify_code(user, code)
        accepted.set()
        go.wait(timeout=20)
        return ok

    monkeypatch.setattr(two_factor, "verify_code", accept_then_pause)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault(
        "response", browser.post("/login/verify", data={"code": code})))
    thread.start()
    try:
        assert accepted.wait(timeout=20), "her code was never checked"
        with db.engine.connect() as other:
            for statement in lock:
                other.execute(statement)
            go.set()
            _wait_until_it_waits(thread)
            other.commit()
    finally:
        go.set()
        thread.join(timeout=30)
    assert outcome["response"].status_code == 302
    after = fresh(User, therapist.id)
    assert after.locked_until is not None and after.locked_until > utcnow(), after.locked_until
    assert after.failed_logins == LOCKOUT_AFTER, after.failed_logins


# --- closing a client's account ---------------------------------------------------------------------

def test_closing_an_account_another_request_is_closing_closes_it_once(app):
    therapist = make_therapist()
    person = make_client(therapist)
    browser = app.test_client()
    login(browser, therapist)
    closed_at = utcnow() - timedelta(hours=1)
    response = while_another_request_writes(
        [hold_user(person.id), sa.update(User).where(User.id == person.id).values(closed_at=closed_at)],
        lambda: browser.post(f"/clients/{person.id}/close"))
    assert response.status_code == 302, response.status_code
    assert abs(fresh(User, person.id).closed_at - closed_at) < timedelta(seconds=1)
    assert audit_count("account_closed", person.id) == 0  # the first close records it, once


def test_a_code_sent_while_her_account_is_closed_signs_nothing_in(app):
    person = make_client(make_therapist(), totp_secret=TOTP_SECRET, totp_enabled_at=utcnow())
    browser = app.test_client()
    assert browser.post("/login", data={"email": person.email, "password": PASSWORD}
                        ).location == "/login/verify"
    code = fresh_totp_code(person)
    response = while_another_request_writes(
        [hold_user(person.id), sa.update(User).where(User.id == person.id).values(closed_at=utcnow())],
        lambda: browser.post("/login/verify", data={"code": code}))
    assert response.status_code == 302 and response.location == "/login", response.location
    assert not signed_in(browser)
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id)).where(
        LoginSession.user_id == person.id, LoginSession.ended_at.is_(None))) == 0
    assert audit_count("sign_in", person.id) == 0


# --- invitations ----------------------------------------------------------------------------------------

def _invited(browser, therapist) -> Invitation:
    login(browser, therapist)
    assert browser.post("/invitations/new", data={"email": "new.person@example.org"}).status_code == 302
    return db.session.scalars(sa.select(Invitation)).one()


def test_withdrawing_an_invitation_while_it_is_accepted_is_refused(app):
    therapist = make_therapist()
    browser = app.test_client()
    invitation = _invited(browser, therapist)
    response = while_another_request_writes(
        [sa.update(Invitation).where(Invitation.id == invitation.id).values(accepted_at=utcnow())],
        lambda: browser.post(f"/invitations/{invitation.id}/revoke"))
    assert response.status_code == 302
    assert "This invitation was already accepted." in page(browser.get(response.location.split("#")[0]))
    after = fresh(Invitation, invitation.id)
    assert after.accepted_at is not None and after.revoked_at is None
    assert audit_count("invitation_revoked") == 0


def test_sending_an_invitation_again_while_it_is_accepted_sends_nothing(app):
    therapist = make_therapist()
    browser = app.test_client()
    invitation = _invited(browser, therapist)
    expires_at = invitation.expires_at
    emails = db.session.scalar(sa.select(sa.func.count(OutboxItem.id)))
    response = while_another_request_writes(
        [sa.update(Invitation).where(Invitation.id == invitation.id).values(accepted_at=utcnow())],
        lambda: browser.post(f"/invitations/{invitation.id}/resend"))
    assert response.status_code == 302
    assert "This invitation is no longer open" in page(browser.get(response.location.split("#")[0]))
    assert fresh(Invitation, invitation.id).expires_at == expires_at
    assert db.session.scalar(sa.select(sa.func.count(OutboxItem.id))) == emails
    assert audit_count("invitation_resent") == 0


def test_an_invitation_accepted_in_two_tabs_at_once_makes_one_account(app):
    therapist = make_therapist()
    invitation = _invited(app.test_client(), therapist)
    path = f"/invitations/accept/{invitation_token(invitation)}"
    answers = at_once(*(_post(app.test_client(), path, {"name": "Maria", "password": p, "confirm": p})
                        for p in (FIRST, SECOND)))
    assert sorted(a.status_code for a in answers) == [302, 410]
    refused = next(a for a in answers if a.status_code == 410)
    assert "already been used" in page(refused) or "already has a Common Ground account" in page(refused)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(
        User.email == "new.person@example.org")) == 1


# --- two-factor sign-in -----------------------------------------------------------------------------

def test_one_code_sent_from_two_browsers_at_once_signs_in_once(app):
    therapist = make_therapist()
    for round_ in range(3):
        browsers = [app.test_client() for _ in range(2)]
        for browser in browsers:
            assert browser.post("/login", data={"email": therapist.email, "password": PASSWORD}
                                ).location == "/login/verify"
        code = fresh_totp_code(therapist)
        statuses = [a.status_code for a in at_once(
            *(_post(b, "/login/verify", {"code": code}) for b in browsers))]
        assert sorted(statuses) == [302, 400], (round_, statuses)
        assert sorted(signed_in(b) for b in browsers) == [False, True], round_


def test_a_recovery_code_another_request_is_using_signs_nothing_in_and_is_not_recorded(app):
    therapist = make_therapist()
    code = regenerate_recovery_codes(therapist, PASSWORD)[0]
    row_id = db.session.scalar(sa.select(RecoveryCode.id).where(RecoveryCode.code_hash == _hash_code(code)))
    browser = app.test_client()
    browser.post("/login", data={"email": therapist.email, "password": PASSWORD})
    response = while_another_request_writes(
        [sa.update(RecoveryCode).where(RecoveryCode.id == row_id).values(used_at=utcnow())],
        lambda: browser.post("/login/verify", data={"code": code}))
    assert response.status_code == 400, response.status_code
    assert not signed_in(browser)
    assert audit_count("recovery_code_used") == 0  # the other request used it; this one did not


def test_recovery_codes_renewed_twice_at_once_leave_one_set(app):
    therapist = make_therapist()
    regenerate_recovery_codes(therapist, PASSWORD)
    browser = app.test_client()
    login(browser, therapist)
    theirs = [f"abcd-ef01-{n:04d}" for n in range(10)]  # the renewal under way in another tab
    response = while_another_request_writes(
        [hold_user(therapist.id), sa.delete(RecoveryCode).where(RecoveryCode.user_id == therapist.id),
         sa.insert(RecoveryCode).values([{"user_id": therapist.id, "code_hash": _hash_code(c)}
                                          for c in theirs])],
        lambda: browser.post("/account/two-factor/recovery-codes", data={"password": PASSWORD}))
    assert response.status_code == 200
    shown = re.findall(r"<li><code>([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})</code></li>", page(response))
    db.session.expire_all()
    live = db.session.scalars(sa.select(RecoveryCode.code_hash).where(
        RecoveryCode.user_id == therapist.id, RecoveryCode.used_at.is_(None))).all()
    assert sorted(live) == sorted(_hash_code(c) for c in shown), len(live)


def _setup_page(browser, mailbox) -> str:
    """Open two-factor setup in this browser and confirm it from the email; the secret shown."""
    browser.get("/account/two-factor")
    link = urlsplit(Mailbox.links(mailbox.messages[-1])[0]).path
    assert browser.get(link).location == "/account/two-factor"
    return re.search(r'<code class="secret">([A-Z2-7]+)</code>', page(browser.get("/account/two-factor"))).group(1)


def test_two_factor_set_up_in_two_windows_at_once_keeps_the_first(app, mailbox):
    therapist = make_therapist(two_factor=False)
    first, second = app.test_client(), app.test_client()
    login(first, therapist)
    login(second, therapist)
    first_secret = _setup_page(first, mailbox)
    second_secret = _setup_page(second, mailbox)
    response = while_another_request_writes(
        [hold_user(therapist.id),
         sa.update(User).where(User.id == therapist.id).values(
             totp_secret=first_secret, totp_enabled_at=utcnow(), totp_last_step=int(time.time() // 30))],
        lambda: second.post("/account/two-factor", data={"code": pyotp.TOTP(second_secret).now()}))
    assert response.status_code == 200
    # No recovery codes for a secret that is not the one kept: this window is told it was set up
    # in another (PostgreSQL: it waited at the setup itself) or shown it on (SQLite: it waited
    # before the page looked).
    text = page(response)
    assert "<li><code>" not in text
    assert "turned on meanwhile, in another window" in text or "Signing in needs your password and a code" in text
    assert fresh(User, therapist.id).totp_secret == first_secret
