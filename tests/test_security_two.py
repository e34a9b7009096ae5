"""Issue 24 (Security II), through HTTP: wrong codes lock the account too; sign-in, reset and
invitation answers say nothing about which addresses have accounts; the CSRF token changes at
sign-in; the pages of the way in are never stored; setting up a second factor needs the
account's email as well as its password."""
from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.accounts.routes import SIGN_IN_REFUSED
from app.accounts.services import LOCKOUT_AFTER, RESET_EMAILS_PER_HOUR
from app.extensions import db, limiter
from app.models import AuditEvent, User
from tests.conftest import PASSWORD, Mailbox, csrf_token_from, fresh_totp_code, login, make_client, make_therapist


@pytest.fixture
def fresh_limits(app):
    limiter.reset()
    yield app
    limiter.reset()


def _reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def _password_step(browser, email, password=PASSWORD):
    return browser.post("/login", data={"email": email, "password": password})


def _without_tokens(html: str) -> str:
    """The page as anyone would compare it: CSRF tokens differ on every render."""
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', 'name="csrf_token"', html)


# --- 1. wrong codes count with wrong passwords, and the lock holds for both steps -------------------

def test_wrong_codes_across_rounds_lock_the_account(app, mailbox):
    therapist = make_therapist("Ruth")
    browser = app.test_client()
    # Three rounds: the right password, then wrong codes. The password step does not clear them.
    wrong_codes = 0
    for _ in range(3):
        assert _password_step(browser, therapist.email).location == "/login/verify"
        for _ in range(2):
            if wrong_codes < LOCKOUT_AFTER:
                refused = browser.post("/login/verify", data={"code": "000000"})
                wrong_codes += 1
                assert refused.status_code == 400
    stored = _reload(therapist)
    assert stored.failed_logins >= LOCKOUT_AFTER and stored.locked_until is not None
    # Locked: neither the right password nor, after it, the right code signs her in.
    answer = _password_step(browser, therapist.email)
    assert answer.status_code == 200 and SIGN_IN_REFUSED in answer.get_data(as_text=True)
    assert browser.get("/caseload").status_code == 302
    # Her owner's email says so; whoever typed was told nothing more than for any refusal.
    notices = [m for m in mailbox.to(therapist.email) if "paused" in m["Subject"]]
    assert len(notices) == 1 and "Nothing was opened" in Mailbox.body(notices[0])


def test_a_lock_reached_between_the_steps_refuses_the_right_code(app, mailbox):
    therapist = make_therapist("Ruth")
    browser = app.test_client()
    assert _password_step(browser, therapist.email).location == "/login/verify"
    db.session.execute(sa.update(User).where(User.id == therapist.id).values(failed_logins=LOCKOUT_AFTER - 1))
    db.session.commit()
    assert browser.post("/login/verify", data={"code": "000000"}).status_code == 400  # the fifth
    assert _reload(therapist).locked_until is not None
    right = browser.post("/login/verify", data={"code": fresh_totp_code(therapist)})
    assert right.status_code == 302 and right.location == "/login"
    assert browser.get("/caseload").status_code == 302


def test_a_complete_sign_in_clears_the_count(app):
    therapist = make_therapist("Ruth")
    browser = app.test_client()
    _password_step(browser, therapist.email, "not the password")
    _password_step(browser, therapist.email)
    browser.post("/login/verify", data={"code": "000000"})
    assert _reload(therapist).failed_logins == 2  # the password step alone clears nothing
    assert browser.post("/login/verify", data={"code": fresh_totp_code(therapist)}).status_code == 302
    assert _reload(therapist).failed_logins == 0


def test_the_code_step_is_throttled_per_account(fresh_limits, mailbox):
    fresh_limits.config["LOGIN_RATE_PER_ACCOUNT"] = "3 per minute"
    therapist = make_therapist("Ruth")
    statuses = []
    for _ in range(2):  # two browsers (two addresses' worth of cookies), one account
        browser = fresh_limits.test_client()
        _password_step(browser, therapist.email)
        statuses += [browser.post("/login/verify", data={"code": "111111"}).status_code for _ in range(2)]
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429


# --- 2. sign-in: the same answer for a known, an unknown and a locked address ------------------------

def test_sign_in_answers_the_same_for_known_unknown_and_locked(app, mailbox):
    known = make_client(make_therapist())
    locked = make_client(make_therapist())
    db.session.execute(sa.update(User).where(User.id == locked.id).values(
        failed_logins=LOCKOUT_AFTER, locked_until=sa.func.now() + sa.text("interval '1 hour'")
        if db.engine.dialect.name == "postgresql" else sa.text("datetime('now', '+1 hour')")))
    db.session.commit()
    answers = {}
    for label, email, password in (("wrong password", known.email, "not it at all"),
                                   ("unknown address", "nobody.here@example.org", "not it at all"),
                                   ("locked, wrong password", locked.email, "not it at all"),
                                   ("locked, right password", locked.email, PASSWORD)):
        response = app.test_client().post("/login", data={"email": email, "password": password})
        body = _without_tokens(response.get_data(as_text=True)).replace(email, "EMAIL")
        answers[label] = (response.status_code, body)
    assert len(set(answers.values())) == 1, {k: v[0] for k, v in answers.items()}
    assert SIGN_IN_REFUSED in answers["unknown address"][1]


def test_sign_in_does_the_same_work_for_known_and_unknown(app, monkeypatch):
    """A password hash checked and one audit row written, whether or not the address exists."""
    from app.core import passwords

    checked = []
    original = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda h, p: checked.append(h is None) or original(h, p))
    known = make_client(make_therapist())
    for email in (known.email, "nobody.here@example.org"):
        before = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
        _password_step(app.test_client(), email, "not the password at all")
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == before + 1
    assert checked == [False, True]  # a real hash, then the stand-in hash for the unknown address


# --- 3. password reset: throttled per account, the same answer, the email after the response ---------

def test_reset_sends_at_most_a_few_links_an_hour_and_answers_the_same(fresh_limits, mailbox, monkeypatch):
    from app.core import mail

    threads = []
    original = mail.send_email
    monkeypatch.setattr(mail, "send_email", lambda *a, **k: threads.append(threading.current_thread().name)
                        or original(*a, **k))
    person = make_client(make_therapist())
    answers = set()
    for email in [person.email] * 40 + ["nobody.here@example.org"] * 3:
        response = fresh_limits.test_client().post("/reset", data={"email": email}, follow_redirects=True)
        answers.add((response.status_code, _without_tokens(response.get_data(as_text=True))))
    assert len(answers) == 1
    assert len(mailbox.to(person.email)) == RESET_EMAILS_PER_HOUR
    assert not mailbox.to("nobody.here@example.org")
    assert threads and set(threads) == {"common-ground-outbox"}  # never sent inside the request
    audited = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("password_reset%"))).all()
    assert audited.count("password_reset_requested") == RESET_EMAILS_PER_HOUR
    assert audited.count("password_reset_throttled") == 40 - RESET_EMAILS_PER_HOUR
    assert audited.count("password_reset_requested_unknown") == 3


# --- 5. the CSRF token changes at sign-in; the way in is never stored --------------------------------

def test_a_csrf_token_from_before_sign_in_is_refused_after_it(csrf_app):
    person = make_client(make_therapist())
    browser = csrf_app.test_client()
    old_token = csrf_token_from(browser.get("/login").get_data(as_text=True))
    assert browser.post("/login", data={"email": person.email, "password": PASSWORD,
                                        "csrf_token": old_token}).status_code == 302
    # The old token (seen by whoever saw the sign-in page) no longer works for a signed-in form.
    stale = browser.post("/account", data={"name": "Changed By Someone", "timezone": "UTC",
                                           "csrf_token": old_token})
    assert stale.status_code == 400
    assert _reload(person).name != "Changed By Someone"
    token = csrf_token_from(browser.get("/account").get_data(as_text=True))
    fine = browser.post("/account", data={"name": "Changed By Her", "timezone": "UTC", "csrf_token": token})
    assert fine.status_code == 302 and _reload(person).name == "Changed By Her"


def test_every_page_of_the_way_in_is_never_stored(app, mailbox):
    therapist = make_therapist("Ruth")
    browser = app.test_client()
    for path in ("/login", "/reset"):
        assert browser.get(path).headers.get("Cache-Control") == "no-store", path
    _password_step(browser, therapist.email)
    verify = browser.get("/login/verify")
    assert verify.status_code == 200 and verify.headers.get("Cache-Control") == "no-store"
    browser.post("/reset", data={"email": therapist.email})
    link = urlsplit(Mailbox.links(mailbox.to(therapist.email)[-1])[0]).path
    assert app.test_client().get(link).headers.get("Cache-Control") == "no-store"


# --- 5. setting up the second factor needs the account's email too -----------------------------------

def test_the_password_alone_cannot_set_up_a_second_factor(app, mailbox):
    therapist = make_therapist("Ruth", two_factor=False)
    browser = app.test_client()
    login(browser, therapist)
    page = browser.get("/account/two-factor").get_data(as_text=True)
    assert "First, confirm it is you" in page and 'class="secret"' not in page
    assert browser.post("/account/two-factor", data={"code": "123456"}).status_code == 200
    assert _reload(therapist).totp_enabled_at is None
    # Another account's link, or a forged one, confirms nothing.
    other = make_therapist("Sam", two_factor=False)
    other_browser = app.test_client()
    login(other_browser, other)
    other_browser.get("/account/two-factor")
    others_link = urlsplit(Mailbox.links(mailbox.to(other.email)[-1])[0]).path
    browser.get(others_link)
    assert 'class="secret"' not in browser.get("/account/two-factor").get_data(as_text=True)
    browser.get("/account/two-factor/confirm/not-a-real-token")
    assert 'class="secret"' not in browser.get("/account/two-factor").get_data(as_text=True)
    # Her own link, opened signed in as herself: now the setup secret is shown.
    own_link = urlsplit(Mailbox.links(mailbox.to(therapist.email)[-1])[0]).path
    assert browser.get(own_link).location == "/account/two-factor"
    assert 'class="secret"' in browser.get("/account/two-factor").get_data(as_text=True)
    # Asking again within the minute sends nothing more; the page says so.
    sent = len(mailbox.to(therapist.email))
    again = browser.post("/account/two-factor/link", follow_redirects=True)
    assert "less than a minute ago" in again.get_data(as_text=True)
    assert len(mailbox.to(therapist.email)) == sent
