"""Signing in and out, login sessions, the password change, `next` redirects and CSRF."""
from __future__ import annotations

import hashlib
import html
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.routes import SIGN_IN_REFUSED as REFUSED
from app.extensions import db
from app.models import LoginSession, User, utcnow
from tests.conftest import PASSWORD, csrf_token_from, fresh_totp_code, login, make_client, make_therapist

NEW_PASSWORD = "seven green kites over the bay"


def signed_in(client) -> bool:
    """Whether this browser is signed in, as any role would notice: a private page opens."""
    response = client.get("/account/password")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.location.startswith("/login"), response.location
    return False


def copy_cookie(source, target, name: str) -> None:
    cookie = source.get_cookie(name)
    assert cookie is not None, f"no {name} cookie to copy"
    target.set_cookie(name, cookie.value)


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- signing in ------------------------------------------------------------------------------

def test_login_page_shows_the_form(client):
    response = client.get("/login")
    assert response.status_code == 200
    body = page(response)
    assert 'name="email"' in body and 'name="password"' in body


def test_therapist_signs_in_with_her_code_and_lands_on_her_caseload(app, client):
    therapist = make_therapist()
    response = client.post("/login", data={"email": therapist.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.location == "/login/verify"  # the password alone is not enough
    assert client.get("/caseload").status_code == 302  # not signed in yet
    response = client.post("/login/verify", data={"code": fresh_totp_code(therapist)})
    assert response.location == "/"
    assert client.get("/").location == "/caseload"
    assert client.get("/caseload").status_code == 200


def test_email_is_case_insensitive_and_trimmed(app, client):
    make_therapist(two_factor=False, email="ruth.alder@example.org")
    response = client.post("/login", data={"email": "  Ruth.ALDER@Example.ORG ", "password": PASSWORD})
    assert response.status_code == 302
    assert signed_in(client)


def test_wrong_password_and_unknown_email_look_the_same(app, client):
    therapist = make_therapist(two_factor=False)
    wrong = client.post("/login", data={"email": therapist.email, "password": "not the password at all"})
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 200
    assert REFUSED in page(wrong)
    assert REFUSED in page(unknown)
    assert not signed_in(client)


def test_password_is_case_sensitive(app, client):
    therapist = make_therapist(two_factor=False)
    response = client.post("/login", data={"email": therapist.email, "password": PASSWORD.upper()})
    assert response.status_code == 200
    assert REFUSED in page(response)
    assert not signed_in(client)


def test_closed_account_cannot_sign_in(app, client):
    therapist = make_therapist(closed_at=utcnow())
    response = client.post("/login", data={"email": therapist.email, "password": PASSWORD})
    assert response.status_code == 200
    assert REFUSED in page(response)
    assert not signed_in(client)


def test_closing_an_account_ends_its_open_sessions(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    assert signed_in(client)
    db.session.execute(sa.update(User).where(User.id == therapist.id).values(closed_at=utcnow()))
    db.session.commit()
    assert not signed_in(client)


def test_empty_form_is_refused_without_signing_in(app, client):
    make_therapist(two_factor=False)
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 200
    assert not signed_in(client)


# --- signing out -----------------------------------------------------------------------------

def test_logout_is_not_available_by_get(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    assert client.get("/logout").status_code == 405
    assert signed_in(client)


def test_logout_signs_out(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.location == "/login"
    assert not signed_in(client)
    assert client.get("/caseload").location.startswith("/login")


def test_copied_session_cookie_is_refused_after_logout(app, client):
    therapist = make_therapist()
    login(client, therapist)
    thief = app.test_client()
    copy_cookie(client, thief, "cg_session")
    # The copy works while the login session is open (proving the copy is a faithful one) ...
    assert thief.get("/caseload").status_code == 200

    client.post("/logout")

    # ... and stops working the moment its owner signs out, although it is still validly signed.
    replay = app.test_client()
    copy_cookie(thief, replay, "cg_session")
    response = replay.get("/caseload")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert thief.get("/caseload").location.startswith("/login")


def test_copied_remember_cookie_is_refused_after_logout(app, client):
    client_user = make_client(make_therapist(two_factor=False))
    response = login(client, client_user, remember=True)
    assert "cg_remember=" in " ".join(response.headers.getlist("Set-Cookie"))

    before = app.test_client()
    copy_cookie(client, before, "cg_remember")
    assert before.get_cookie("cg_session") is None
    assert before.get("/home").status_code == 200  # the remember cookie alone signs in

    remember_value = client.get_cookie("cg_remember").value
    client.post("/logout")

    after = app.test_client()
    after.set_cookie("cg_remember", remember_value)
    response = after.get("/home")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert before.get("/home").location.startswith("/login")


def test_without_remember_me_no_remember_cookie_is_set(app, client):
    therapist = make_therapist(two_factor=False)
    response = login(client, therapist)
    assert "cg_remember=" not in " ".join(response.headers.getlist("Set-Cookie"))


def test_logout_without_being_signed_in_is_harmless(client):
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.location == "/login"


# --- session cookie and lifetime -------------------------------------------------------------

def test_session_cookie_is_httponly_and_samesite_lax(app, client):
    therapist = make_therapist(two_factor=False)
    response = login(client, therapist)
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("cg_session=")]
    assert cookies, response.headers.getlist("Set-Cookie")
    flags = [part.strip().lower() for part in cookies[-1].split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags


def test_remember_cookie_is_httponly_and_samesite_lax(app, client):
    therapist = make_therapist(two_factor=False)
    response = login(client, therapist, remember=True)
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("cg_remember=")]
    assert cookies
    flags = [part.strip().lower() for part in cookies[-1].split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags


def test_sign_in_stores_only_a_hash_of_the_session_token(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    rows = db.session.scalars(sa.select(LoginSession).where(LoginSession.user_id == therapist.id)).all()
    assert len(rows) == 1
    cookie = client.get_cookie("cg_session").value
    session = app.session_interface.get_signing_serializer(app).loads(cookie)
    user_id, _, token = session["_user_id"].partition(":")
    assert user_id == str(therapist.id) and len(token) >= 32
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in rows[0].token_hash


def _age_sessions(user, **values) -> None:
    db.session.execute(sa.update(LoginSession).where(LoginSession.user_id == user.id).values(**values))
    db.session.commit()


def test_session_idle_for_31_minutes_is_refused(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    _age_sessions(therapist, last_seen_at=utcnow() - timedelta(minutes=31))
    response = client.get("/caseload")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_session_active_29_minutes_ago_is_kept_and_refreshed(app, client):
    therapist = make_therapist()
    login(client, therapist)
    _age_sessions(therapist, last_seen_at=utcnow() - timedelta(minutes=29))
    assert client.get("/caseload").status_code == 200
    db.session.expire_all()
    last_seen = db.session.scalar(sa.select(LoginSession.last_seen_at)
                                  .where(LoginSession.user_id == therapist.id))
    assert utcnow() - last_seen < timedelta(minutes=1)


def test_session_older_than_its_absolute_lifetime_is_refused(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    _age_sessions(therapist, created_at=utcnow() - timedelta(hours=13))
    response = client.get("/caseload")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_remember_cookie_does_not_outlive_the_idle_timeout(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist, remember=True)
    _age_sessions(therapist, last_seen_at=utcnow() - timedelta(minutes=31))
    other = app.test_client()
    copy_cookie(client, other, "cg_remember")
    assert other.get("/caseload").location.startswith("/login")


# --- `next` ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.com",
    "/\\evil.com",
    "https://evil.com",
    "javascript:alert(1)",
    "///evil.com",
    "/\t/evil.com",
    "http:/evil.com",
])
def test_next_never_leaves_the_site(app, client, target):
    therapist = make_therapist(two_factor=False)
    response = client.post("/login", query_string={"next": target},
                           data={"email": therapist.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.location == "/"


def test_next_to_a_local_page_is_honoured(app, client):
    therapist = make_therapist(two_factor=False)
    response = client.post("/login?next=/account/password",
                           data={"email": therapist.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.location == "/account/password"


def test_protected_page_sends_to_login_and_back(app, client):
    therapist = make_therapist(two_factor=False)
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")
    response = client.post(response.location, data={"email": therapist.email, "password": PASSWORD})
    assert response.location == "/account/password"


# --- changing one's password -----------------------------------------------------------------

def _change(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post("/account/password", data={
        "current_password": current, "password": new, "confirm": confirm or new,
    })


def test_change_password_needs_the_current_password(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    response = _change(client, current="not my password at all")
    assert response.status_code == 200
    assert "Your current password is not right." in page(response)
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": therapist.email, "password": NEW_PASSWORD}).status_code == 200
    login(fresh, therapist)  # the old password still works


def test_change_password_refuses_a_weak_new_password(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    response = _change(client, new="short")
    assert response.status_code == 200
    assert "at least 12 characters" in page(response)
    login(app.test_client(), therapist)


def test_change_password_refuses_a_mismatched_confirmation(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    response = _change(client, confirm="something else entirely")
    assert response.status_code == 200
    assert "The two passwords do not match." in page(response)
    login(app.test_client(), therapist)


def test_change_password_ends_other_sessions_but_keeps_this_one(app, client):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    laptop = app.test_client()
    login(laptop, therapist)
    remembered = app.test_client()
    login(remembered, therapist, remember=True)
    remember_value = remembered.get_cookie("cg_remember").value

    response = _change(client)
    assert response.status_code == 302

    assert signed_in(client)
    assert not signed_in(laptop)
    replay = app.test_client()
    replay.set_cookie("cg_remember", remember_value)
    assert not signed_in(replay)

    fresh = app.test_client()
    refused = fresh.post("/login", data={"email": therapist.email, "password": PASSWORD})
    assert refused.status_code == 200 and REFUSED in page(refused)
    login(fresh, therapist, password=NEW_PASSWORD)


def test_change_password_needs_sign_in(client):
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.location.startswith("/login")


# --- CSRF ------------------------------------------------------------------------------------

def test_login_without_csrf_token_is_refused(csrf_app):
    therapist = make_therapist(two_factor=False)
    browser = csrf_app.test_client()
    browser.get("/login")
    response = browser.post("/login", data={"email": therapist.email, "password": PASSWORD})
    assert response.status_code == 400
    assert not signed_in(browser)


def test_login_with_csrf_token_from_the_page_works(csrf_app):
    therapist = make_therapist(two_factor=False)
    browser = csrf_app.test_client()
    token = csrf_token_from(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={
        "email": therapist.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert signed_in(browser)


def _csrf_login(browser, user):
    token = csrf_token_from(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_logout_without_csrf_token_does_not_end_the_session(csrf_app):
    therapist = make_therapist(two_factor=False)
    browser = csrf_app.test_client()
    _csrf_login(browser, therapist)
    response = browser.post("/logout")
    assert response.status_code == 400
    assert signed_in(browser)


def test_logout_with_csrf_token_ends_the_session(csrf_app):
    therapist = make_therapist(two_factor=False)
    browser = csrf_app.test_client()
    _csrf_login(browser, therapist)
    token = csrf_token_from(browser.get("/account/password").get_data(as_text=True))
    copy = csrf_app.test_client()
    copy_cookie(browser, copy, "cg_session")
    response = browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert not signed_in(browser)
    assert not signed_in(copy)


def test_change_password_without_csrf_token_changes_nothing(csrf_app):
    therapist = make_therapist(two_factor=False)
    browser = csrf_app.test_client()
    _csrf_login(browser, therapist)
    response = _change(browser)
    assert response.status_code == 400
    _csrf_login(csrf_app.test_client(), therapist)  # the old password still works
