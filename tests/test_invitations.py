"""Inviting a client: the email, the single-use expiring link, and who may manage it."""
from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from app.accounts.invitations import INVITATION_SALT
from app.extensions import db
from app.models import ROLE_CLIENT, Invitation, User, utcnow
from tests.conftest import Mailbox, login, make_client, make_therapist

NEW_EMAIL = "new.client@example.org"
CLIENT_PASSWORD = "tea on the porch at dawn"


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def invite(client, email=NEW_EMAIL):
    return client.post("/invitations/new", data={"email": email})


def only_invitation() -> Invitation:
    db.session.expire_all()
    invitations = db.session.scalars(sa.select(Invitation)).all()
    assert len(invitations) == 1
    return invitations[0]


def emailed_path(mailbox, address=NEW_EMAIL, index=-1) -> str:
    messages = mailbox.to(address)
    assert messages, f"no email to {address}"
    links = Mailbox.links(messages[index])
    assert len(links) == 1, links
    return urlsplit(links[0]).path


def accept(browser, path, name="Maria", password=CLIENT_PASSWORD, confirm=None):
    return browser.post(path, data={"name": name, "password": password, "confirm": confirm or password})


def user_by_email(email) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_the_whole_invitation_journey(app, client, mailbox):
    therapist = make_therapist()
    login(client, therapist)
    assert client.get("/invitations/new").status_code == 200

    response = invite(client)
    assert response.status_code == 302
    assert response.location.startswith("/caseload")

    messages = mailbox.to(NEW_EMAIL)
    assert len(messages) == 1
    assert therapist.name in messages[0]["Subject"]
    assert "for 7 days" in Mailbox.body(messages[0])  # INVITATION_LIFETIME, not one day less
    path = emailed_path(mailbox)
    assert path.startswith("/invitations/accept/")

    newcomer = app.test_client()
    form = newcomer.get(path)
    assert form.status_code == 200
    body = page(form)
    assert NEW_EMAIL in body and therapist.name in body
    assert 'name="password"' in body and 'name="confirm"' in body

    response = accept(newcomer, path, name="  Maria  ")
    assert response.status_code == 302
    assert response.location == "/"
    assert newcomer.get("/").location == "/home"
    home = newcomer.get("/home")
    assert home.status_code == 200
    assert "Maria" in page(home)

    created = user_by_email(NEW_EMAIL)
    assert created.role == ROLE_CLIENT
    assert created.therapist_id == therapist.id
    assert created.name == "Maria"
    assert created.password_hash.startswith("$argon2id$")
    assert only_invitation().accepted_at is not None
    assert only_invitation().client_id == created.id

    # The therapist now sees her new client, and the invitation is no longer waiting.
    caseload = page(client.get("/caseload"))
    assert "Maria" in caseload
    assert "No invitations waiting." in caseload

    # The new client can sign in later with her own password.
    later = app.test_client()
    login(later, created, password=CLIENT_PASSWORD)


def test_invited_email_is_stored_lower_case(app, client, mailbox):
    login(client, make_therapist())
    invite(client, "  New.Client@Example.ORG ")
    assert only_invitation().email == NEW_EMAIL
    assert len(mailbox.to(NEW_EMAIL)) == 1


def test_link_works_only_once(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    path = emailed_path(mailbox)
    assert accept(app.test_client(), path).status_code == 302

    second = app.test_client()
    response = second.get(path)
    assert response.status_code == 410
    assert "already been used" in page(response)
    assert "sign in" in page(response)

    response = accept(second, path, name="Impostor", password="another long passphrase here")
    assert response.status_code == 410
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email == NEW_EMAIL)) == 1
    assert user_by_email(NEW_EMAIL).name == "Maria"
    # The second visitor is not signed in as Maria.
    assert second.get("/home").location.startswith("/login")


def test_expired_link_is_refused(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    path = emailed_path(mailbox)
    invitation = only_invitation()
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    newcomer = app.test_client()
    response = newcomer.get(path)
    assert response.status_code == 410
    assert "expired" in page(response)
    assert "ask your therapist" in page(response).lower()
    assert accept(newcomer, path).status_code == 410
    assert user_by_email(NEW_EMAIL) is None


def test_revoked_link_is_refused(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    path = emailed_path(mailbox)
    invitation = only_invitation()

    response = client.post(f"/invitations/{invitation.id}/revoke")
    assert response.status_code == 302
    assert only_invitation().revoked_at is not None

    newcomer = app.test_client()
    response = newcomer.get(path)
    assert response.status_code == 410
    assert "withdrawn" in page(response)
    assert accept(newcomer, path).status_code == 410
    assert user_by_email(NEW_EMAIL) is None
    # The withdrawn invitation no longer shows on the caseload (once the flash has been read).
    assert "is withdrawn" in page(client.get("/caseload"))
    assert NEW_EMAIL not in page(client.get("/caseload"))


def test_tampered_link_is_refused(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    path = emailed_path(mailbox)
    token = path.rsplit("/", 1)[1]
    position = len(token) - 5
    swapped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + swapped + token[position + 1:]

    newcomer = app.test_client()
    for bad in (tampered, tampered[:-1], "not-a-token", token.split(".")[0]):
        response = newcomer.get(f"/invitations/accept/{bad}")
        assert response.status_code == 410, bad
        assert "not valid" in page(response)
    assert accept(newcomer, f"/invitations/accept/{tampered}").status_code == 410
    assert user_by_email(NEW_EMAIL) is None


def test_link_forged_from_the_database_alone_is_refused(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    invitation = only_invitation()
    # Someone who read the database knows the id and nonce, but not the SECRET_KEY.
    forged = URLSafeSerializer("a guessed secret key", salt=INVITATION_SALT).dumps(
        [invitation.id, invitation.nonce])
    response = app.test_client().get(f"/invitations/accept/{forged}")
    assert response.status_code == 410


def test_inviting_an_address_that_has_an_account_answers_as_for_a_new_one(app, client, mailbox, people):
    """The therapist learns nothing about whose the address is; its owner is told, with no link
    that would make a second account, and nothing changes in her account."""
    login(client, people["therapist"])
    fresh = invite(client, NEW_EMAIL)
    for email in (people["other_client"].email, people["other_therapist"].email.upper()):
        response = invite(client, email)
        assert response.status_code == fresh.status_code == 302
        assert response.location.split("#")[0] == fresh.location.split("#")[0]
        shown = page(client.get(response.location.split("#")[0]))
        assert f"The invitation is on its way to {email.lower()}" in shown
        assert "already has" not in shown
        told = mailbox.to(email)[-1]
        assert "You already have an account with this address" in Mailbox.body(told)
        assert "/invitations/accept/" not in Mailbox.body(told)
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 3
    db.session.expire_all()
    assert db.session.get(User, people["other_client"].id).therapist_id == people["other_therapist"].id


def test_inviting_a_malformed_address_is_refused(app, client, mailbox):
    login(client, make_therapist())
    for email in ("not-an-email", "two@@example.org", "someone@", ""):
        response = invite(client, email)
        assert response.status_code == 200, email
        assert 'class="error"' in page(response), email
    assert "Please enter an email address like name@example.com." in page(invite(client, "nope"))
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0
    assert mailbox.messages == []


def test_inviting_the_same_address_twice_is_refused(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    response = invite(client)
    assert response.status_code == 200
    assert "already invited this address" in page(response)
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 1
    assert len(mailbox.messages) == 1


def test_a_client_cannot_invite(app, client, mailbox, people):
    login(client, people["client"])
    assert client.get("/invitations/new").status_code == 403
    response = invite(client)
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0
    assert mailbox.messages == []


def test_anonymous_cannot_invite(app, client, mailbox):
    response = invite(client)
    assert response.status_code == 302
    assert response.location.startswith("/login")
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0


def test_another_therapist_cannot_resend_or_revoke(app, client, mailbox, people):
    login(client, people["therapist"])
    invite(client)
    path = emailed_path(mailbox)
    invitation = only_invitation()
    expires_at = invitation.expires_at

    intruder = app.test_client()
    login(intruder, people["other_therapist"])
    assert intruder.post(f"/invitations/{invitation.id}/resend").status_code == 404
    assert intruder.post(f"/invitations/{invitation.id}/revoke").status_code == 404
    # The same answer as for an invitation that does not exist: nothing reveals it is there.
    assert intruder.post(f"/invitations/{invitation.id + 1000}/revoke").status_code == 404
    assert NEW_EMAIL not in page(intruder.get("/caseload"))

    after = only_invitation()
    assert after.revoked_at is None
    assert after.expires_at == expires_at
    assert len(mailbox.messages) == 1
    assert app.test_client().get(path).status_code == 200


def test_a_client_cannot_resend_or_revoke(app, client, mailbox, people):
    login(client, people["therapist"])
    invite(client)
    invitation = only_invitation()
    own_client = app.test_client()
    login(own_client, people["client"])
    assert own_client.post(f"/invitations/{invitation.id}/resend").status_code == 404
    assert own_client.post(f"/invitations/{invitation.id}/revoke").status_code == 404
    assert only_invitation().revoked_at is None
    assert len(mailbox.messages) == 1


def test_caseload_shows_the_pending_invitation_link(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    emailed = Mailbox.links(mailbox.to(NEW_EMAIL)[0])[0]
    caseload = client.get("/caseload")
    assert caseload.status_code == 200
    body = page(caseload)
    assert NEW_EMAIL in body
    assert f'value="{emailed}"' in body
    assert caseload.headers["Cache-Control"] == "no-store"


def test_an_invitation_email_waits_while_the_mail_server_is_down_and_goes_when_it_is_back(
        app, client, mailbox):
    from app.notifications.deliverer import wait_until_delivered
    from app.notifications.outbox import deliver_due

    working_port = app.config["MAIL_PORT"]
    app.config.update(MAIL_PORT=1, MAIL_TIMEOUT=1)  # nothing listens there
    login(client, make_therapist())
    assert invite(client).status_code == 302
    assert wait_until_delivered()
    body = page(client.get("/caseload"))
    assert "The email could not be sent yet" in body and "it will be tried again" in body
    assert "/invitations/accept/" in body  # the link to give another way
    assert not mailbox.to(NEW_EMAIL)

    app.config.update(MAIL_PORT=working_port)  # the mail server is back; the retry is due later
    assert deliver_due(now=utcnow() + timedelta(hours=1)) == 1
    assert len(mailbox.to(NEW_EMAIL)) == 1
    assert "Email sent." in page(client.get("/caseload"))
    assert deliver_due(now=utcnow() + timedelta(days=3)) == 0  # nothing is sent twice


def test_resend_sends_a_second_email_with_a_fresh_lifetime(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    invitation = only_invitation()
    invitation.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    path = emailed_path(mailbox)
    assert app.test_client().get(path).status_code == 410

    response = client.post(f"/invitations/{invitation.id}/resend")
    assert response.status_code == 302
    messages = mailbox.to(NEW_EMAIL)
    assert len(messages) == 2
    assert "on its way again" in page(client.get("/caseload"))
    assert only_invitation().expires_at > utcnow() + timedelta(days=6)

    second_path = emailed_path(mailbox, index=1)
    newcomer = app.test_client()
    assert newcomer.get(second_path).status_code == 200
    assert accept(newcomer, second_path).status_code == 302


def test_revoked_invitation_cannot_be_resent(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    invitation = only_invitation()
    client.post(f"/invitations/{invitation.id}/revoke")
    client.post(f"/invitations/{invitation.id}/resend")
    assert len(mailbox.messages) == 1
    assert app.test_client().get(emailed_path(mailbox)).status_code == 410


def test_weak_password_on_accept_is_refused(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    path = emailed_path(mailbox)
    newcomer = app.test_client()

    short = accept(newcomer, path, password="short pw")
    assert short.status_code == 200
    assert "at least 12 characters" in page(short)

    common = accept(newcomer, path, password="password1234")
    assert common.status_code == 200
    assert "very common passwords" in page(common)

    mismatch = accept(newcomer, path, confirm="a different passphrase")
    assert mismatch.status_code == 200
    assert "The two passwords do not match." in page(mismatch)

    assert user_by_email(NEW_EMAIL) is None
    assert only_invitation().accepted_at is None
    assert newcomer.get("/home").location.startswith("/login")
    # The link still works after the refusals.
    assert accept(newcomer, path).status_code == 302


def test_accept_needs_a_name(app, client, mailbox):
    login(client, make_therapist())
    invite(client)
    path = emailed_path(mailbox)
    response = accept(app.test_client(), path, name="")
    assert response.status_code == 200
    assert user_by_email(NEW_EMAIL) is None


def test_invitation_for_an_address_that_registered_meanwhile_is_refused(app, client, mailbox):
    therapist = make_therapist()
    login(client, therapist)
    invite(client)
    path = emailed_path(mailbox)
    make_client(therapist, email=NEW_EMAIL)
    response = accept(app.test_client(), path)
    assert response.status_code == 410
    assert "already has a Common Ground account" in page(response)
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email == NEW_EMAIL)) == 1


def test_accepting_while_someone_else_is_signed_in_switches_to_the_new_client(app, client, mailbox,
                                                                               people):
    login(client, people["therapist"])
    invite(client)
    path = emailed_path(mailbox)
    shared = app.test_client()
    login(shared, people["other_client"])
    assert accept(shared, path).status_code == 302
    home = page(shared.get("/home"))
    assert "Maria" in home
    assert people["other_client"].name not in home
