"""Password reset by email: no account enumeration, single-use expiring links."""
from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.accounts.routes import SIGN_IN_REFUSED as REFUSED
from app.extensions import db
from app.models import AuditEvent, utcnow
from tests.conftest import PASSWORD, Mailbox, login, make_client, make_therapist

NEW_PASSWORD = "lanterns drifting past the mill"


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def request_reset(browser, email):
    return browser.post("/reset", data={"email": email})


def reset_path(mailbox, address) -> str:
    messages = mailbox.to(address)
    assert len(messages) == 1, [m["Subject"] for m in mailbox.messages]
    links = Mailbox.links(messages[0])
    assert len(links) == 1
    path = urlsplit(links[0]).path
    assert path.startswith("/reset/")
    return path


def set_password(browser, path, password=NEW_PASSWORD, confirm=None):
    return browser.post(path, data={"password": password, "confirm": confirm or password})


def can_sign_in(app, email, password) -> bool:
    response = app.test_client().post("/login", data={"email": email, "password": password})
    if response.status_code == 302:
        return True
    assert REFUSED in page(response)
    return False


def test_reset_page_shows_the_form(client):
    response = client.get("/reset")
    assert response.status_code == 200
    assert 'name="email"' in page(response)


def test_known_email_gets_one_link(app, client, mailbox):
    person = make_client(make_therapist())
    response = request_reset(client, person.email)
    assert response.status_code == 302
    assert response.location == "/login"
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == person.email
    assert "password" in message["Subject"].lower()
    reset_path(mailbox, person.email)


def test_known_email_in_other_case_gets_a_link(app, client, mailbox):
    person = make_therapist()
    request_reset(client, "  " + person.email.upper())
    reset_path(mailbox, person.email)


def test_unknown_email_looks_the_same_and_sends_nothing(app, mailbox):
    person = make_therapist()
    known_browser, unknown_browser = app.test_client(), app.test_client()
    known = request_reset(known_browser, person.email)
    unknown = request_reset(unknown_browser, "nobody@example.org")
    assert known.status_code == unknown.status_code == 302
    assert known.location == unknown.location == "/login"

    known_page = page(known_browser.get("/login"))
    unknown_page = page(unknown_browser.get("/login"))
    assert "If that address belongs to an account, a reset link is on its way." in unknown_page
    assert known_page == unknown_page
    assert len(mailbox.messages) == 1
    assert mailbox.to("nobody@example.org") == []


def test_closed_account_gets_no_link(app, client, mailbox):
    person = make_therapist(closed_at=utcnow())
    response = request_reset(client, person.email)
    assert response.status_code == 302
    assert mailbox.messages == []


def test_link_sets_a_new_password(app, client, mailbox):
    person = make_client(make_therapist())
    request_reset(client, person.email)
    path = reset_path(mailbox, person.email)

    form = client.get(path)
    assert form.status_code == 200
    assert 'name="password"' in page(form)
    assert form.headers["Cache-Control"] == "no-store"

    response = set_password(client, path)
    assert response.status_code == 302
    assert response.location == "/login"
    assert "Your password is changed" in page(client.get("/login"))

    assert not can_sign_in(app, person.email, PASSWORD)
    assert can_sign_in(app, person.email, NEW_PASSWORD)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))
                             .where(AuditEvent.action == "password_reset",
                                    AuditEvent.subject_id == person.id)) == 1


def test_link_works_only_once(app, client, mailbox):
    person = make_therapist()
    request_reset(client, person.email)
    path = reset_path(mailbox, person.email)
    assert set_password(client, path).status_code == 302

    again = app.test_client()
    response = again.get(path)
    assert response.status_code == 410
    assert "already been used" in page(response)
    assert 'href="/reset"' in page(response)

    response = set_password(again, path, password="an attacker's own passphrase")
    assert response.status_code == 410
    assert can_sign_in(app, person.email, NEW_PASSWORD)
    assert not can_sign_in(app, person.email, "an attacker's own passphrase")


def test_link_stops_working_when_the_password_changes_another_way(app, client, mailbox):
    person = make_therapist()
    request_reset(app.test_client(), person.email)
    path = reset_path(mailbox, person.email)
    login(client, person)
    client.post("/account/password", data={
        "current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert app.test_client().get(path).status_code == 410


def test_expired_link_is_refused(app, client, mailbox, monkeypatch):
    person = make_therapist()
    request_reset(client, person.email)
    path = reset_path(mailbox, person.email)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_LIFETIME", timedelta(seconds=-1))

    response = client.get(path)
    assert response.status_code == 410
    assert "expired" in page(response)
    assert set_password(client, path).status_code == 410
    assert can_sign_in(app, person.email, PASSWORD)


def test_tampered_link_is_refused(app, client, mailbox):
    person = make_therapist()
    request_reset(client, person.email)
    path = reset_path(mailbox, person.email)
    position = len(path) - 5
    tampered = path[:position] + ("A" if path[position] != "A" else "B") + path[position + 1:]
    for bad in (tampered, "/reset/not-a-token"):
        response = client.get(bad)
        assert response.status_code == 410, bad
        assert "not valid" in page(response)
    assert set_password(client, tampered).status_code == 410
    assert can_sign_in(app, person.email, PASSWORD)


def test_weak_new_password_is_refused_and_link_still_works(app, client, mailbox):
    person = make_therapist()
    request_reset(client, person.email)
    path = reset_path(mailbox, person.email)

    short = set_password(client, path, password="too short")
    assert short.status_code == 200
    assert "at least 12 characters" in page(short)
    common = set_password(client, path, password="Password1234")
    assert common.status_code == 200
    assert "very common passwords" in page(common)
    mismatch = set_password(client, path, confirm="a different passphrase")
    assert mismatch.status_code == 200
    assert "The two passwords do not match." in page(mismatch)
    assert can_sign_in(app, person.email, PASSWORD)

    assert set_password(client, path).status_code == 302
    assert can_sign_in(app, person.email, NEW_PASSWORD)


def test_reset_ends_every_existing_session(app, client, mailbox):
    person = make_client(make_therapist())
    phone, laptop = app.test_client(), app.test_client()
    login(phone, person)
    login(laptop, person, remember=True)
    remember_value = laptop.get_cookie("cg_remember").value
    assert phone.get("/home").status_code == 200

    request_reset(client, person.email)
    set_password(client, reset_path(mailbox, person.email))

    assert phone.get("/home").location.startswith("/login")
    assert laptop.get("/home").location.startswith("/login")
    replay = app.test_client()
    replay.set_cookie("cg_remember", remember_value)
    assert replay.get("/home").location.startswith("/login")


def test_reset_in_a_signed_in_browser_signs_it_out(app, client, mailbox):
    person = make_therapist()
    login(client, person)
    request_reset(client, person.email)
    assert set_password(client, reset_path(mailbox, person.email)).status_code == 302
    assert client.get("/caseload").location.startswith("/login")
