"""Two-factor sign-in: required for therapists, offered to clients, each code works once;
recovery codes; the growing lockout."""
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa

from app.accounts.routes import SIGN_IN_REFUSED
from app.extensions import db
from app.models import AuditEvent, RecoveryCode, User, utcnow
from tests.conftest import PASSWORD, TOTP_SECRET, Mailbox, fresh_totp_code, login, make_client, make_therapist


def _password_step(client, user, password=PASSWORD):
    return client.post("/login", data={"email": user.email, "password": password})


def _signed_in(client) -> bool:
    response = client.get("/account/password")
    return response.status_code == 200


def test_the_password_alone_never_signs_a_therapist_in(app, client):
    therapist = make_therapist()
    assert _password_step(client, therapist).location == "/login/verify"
    assert not _signed_in(client)
    wrong = client.post("/login/verify", data={"code": "000000"})
    assert wrong.status_code == 400
    assert "did not work" in wrong.get_data(as_text=True)
    assert not _signed_in(client)
    right = client.post("/login/verify", data={"code": fresh_totp_code(therapist)})
    assert right.status_code == 302
    assert _signed_in(client)


def test_each_code_works_once(app):
    therapist = make_therapist()
    code = fresh_totp_code(therapist)
    first, second = app.test_client(), app.test_client()
    _password_step(first, therapist)
    assert first.post("/login/verify", data={"code": code}).status_code == 302
    _password_step(second, therapist)
    replay = second.post("/login/verify", data={"code": code})
    assert replay.status_code == 400
    assert not _signed_in(second)


def test_a_code_from_an_old_time_step_is_refused(app, client):
    therapist = make_therapist()
    fresh_totp_code(therapist)
    old = pyotp.TOTP(TOTP_SECRET).at(time.time() - 120)
    _password_step(client, therapist)
    assert client.post("/login/verify", data={"code": old}).status_code == 400


def test_the_second_step_expires(app, client, monkeypatch):
    therapist = make_therapist()
    _password_step(client, therapist)
    with client.session_transaction() as session:
        pending = dict(session["pending_two_factor"])
        pending["at"] -= 3600
        session["pending_two_factor"] = pending
    response = client.post("/login/verify", data={"code": fresh_totp_code(therapist)})
    assert response.status_code == 302 and response.location == "/login"
    assert not _signed_in(client)


def _confirm_from_email(client, mailbox) -> None:
    """Open the setup page, then the link it emails (the password alone shows no secret)."""
    first = client.get("/account/two-factor").get_data(as_text=True)
    assert "First, confirm it is you" in first and 'class="secret"' not in first
    links = Mailbox.links(mailbox.messages[-1])
    assert mailbox.messages[-1]["Subject"] == "Confirm setting up two-factor sign-in" and len(links) == 1
    assert client.get(urlsplit(links[0]).path).location == "/account/two-factor"


def _set_up_two_factor(client, mailbox) -> list[str]:
    _confirm_from_email(client, mailbox)
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert "<svg" in page  # the QR code, drawn inline
    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})</code></li>", done.get_data(as_text=True))
    assert len(codes) == 10
    return codes


def test_a_new_therapist_sets_up_two_factor_first_and_recovery_codes_work_once(app, client, mailbox):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    assert client.get("/caseload").location == "/account/two-factor"
    assert client.get("/review").location == "/account/two-factor"
    codes = _set_up_two_factor(client, mailbox)
    assert client.get("/caseload").status_code == 200
    db.session.expire_all()
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == therapist.id)).all()
    assert len(stored) == 10 and not any(c.replace("-", "") in h for c in codes for h in stored)

    other = app.test_client()
    _password_step(other, therapist)
    assert other.post("/login/verify", data={"code": codes[0]}).status_code == 302
    assert _signed_in(other)
    third = app.test_client()
    _password_step(third, therapist)
    assert third.post("/login/verify", data={"code": codes[0]}).status_code == 400


def test_a_wrong_setup_code_turns_nothing_on(app, client, mailbox):
    therapist = make_therapist(two_factor=False)
    login(client, therapist)
    _confirm_from_email(client, mailbox)
    client.get("/account/two-factor")
    response = client.post("/account/two-factor", data={"code": "123456"})
    assert "does not match" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, therapist.id).totp_enabled_at is None


def test_clients_may_turn_it_on_and_off_therapists_may_not_turn_it_off(app, people, mailbox):
    client_user = people["client"]
    browser = app.test_client()
    login(browser, client_user)
    assert browser.get("/home").status_code == 200  # optional for clients
    _set_up_two_factor(browser, mailbox)
    fresh = app.test_client()
    assert _password_step(fresh, client_user).location == "/login/verify"
    browser.post("/account/two-factor/disable", data={"password": PASSWORD})
    db.session.expire_all()
    assert db.session.get(User, client_user.id).totp_enabled_at is None

    therapist = people["therapist"]
    t_browser = app.test_client()
    login(t_browser, therapist)
    t_browser.post("/account/two-factor/disable", data={"password": PASSWORD})
    db.session.expire_all()
    assert db.session.get(User, therapist.id).totp_enabled_at is not None


def test_lockout_after_five_failures_grows_and_ends(app, client):
    user = make_client(make_therapist())
    for _ in range(5):
        assert _password_step(client, user, "not the password at all").status_code == 200
    db.session.expire_all()
    locked = db.session.get(User, user.id)
    assert locked.failed_logins == 5 and locked.locked_until > utcnow()
    first_lock = locked.locked_until - utcnow()

    refused = _password_step(client, user)  # even the right password waits, told as any refusal
    assert refused.status_code == 200
    assert SIGN_IN_REFUSED in refused.get_data(as_text=True)
    assert not _signed_in(client)

    # One more failure once the lock has ended: the next lock is longer.
    db.session.execute(sa.update(User).where(User.id == user.id).values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    _password_step(client, user, "still not the password")
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until - utcnow() > first_lock

    db.session.execute(sa.update(User).where(User.id == user.id).values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert _password_step(client, user).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).failed_logins == 0


def test_failed_sign_ins_are_audited_without_the_password(app, client):
    user = make_client(make_therapist())
    _password_step(client, user, "a wrong guess here")
    client.post("/login", data={"email": "nobody@example.org", "password": "another wrong guess"})
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [(r.action, r.subject_id) for r in rows]
    assert ("sign_in_failed", user.id) in actions
    assert ("sign_in_failed_unknown_email", None) in actions
    assert all(r.ip for r in rows if r.action.startswith("sign_in_failed"))


def test_demo_therapists_have_known_secrets_and_totp_code_prints_the_code(app):
    import json
    result = app.test_cli_runner().invoke(args=["seed-demo", "--json"])
    logins = json.loads(result.output)
    secrets_ = {row["email"]: row["totp_secret"] for row in logins if row["role"] == "therapist"}
    assert all(secrets_.values()) and len(secrets_) == 2
    app.config["ENV_NAME"] = "development"
    email, secret = next(iter(secrets_.items()))
    printed = app.test_cli_runner().invoke(args=["totp-code", email]).output.strip()
    assert printed == pyotp.TOTP(secret).now() or printed == pyotp.TOTP(secret).at(time.time() - 30)
    app.config["ENV_NAME"] = "testing"
    refused = app.test_cli_runner().invoke(args=["totp-code", email])
    assert refused.exit_code != 0 and "only works in development" in refused.output
