"""Logs never hold passwords, tokens or what anyone wrote.

One run of everything that handles secrets (signing in, a failed sign-in, an invitation emailed
with no mail server, accepting it, a password reset, a reflection drafted and sent, feedback and
a private annotation, request lines of the development server) with every log record captured
at DEBUG; then every formatted record is searched for each secret."""
from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

import app.core.mail as mail
import tests.conftest as conftest
from app.extensions import db
from app.models import Invitation, User
from app.notifications.deliverer import wait_until_delivered
from app.web.log_hygiene import RedactTokens, redact
from tests.builders_homework import assign
from tests.conftest import PASSWORD, login, make_therapist

REFLECTION_SENTINEL = "REFLECTION-LOG-SENTINEL-4be1c9"
DRAFT_SENTINEL = "DRAFT-LOG-SENTINEL-0a7d13"
FEEDBACK_SENTINEL = "FEEDBACK-LOG-SENTINEL-77d2e0"
ANNOTATION_SENTINEL = "ANNOTATION-LOG-SENTINEL-3f90aa"
NEW_PASSWORD = "violet kettle harbour morning 42"
RESET_PASSWORD = "another quiet lane at dusk 17"
WRONG_PASSWORD = "wrong password log sentinel 91"
INVITEE = "invitee.logcheck@example.org"
APP_LOGGERS = ("werkzeug", "app", "common_ground", "flask", "gunicorn.access")


@pytest.fixture
def captured(caplog):
    """Every record at DEBUG: the root logger, the request loggers and the app's own."""
    caplog.set_level(logging.DEBUG)
    for name in APP_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def outbox(monkeypatch):
    """The emails the app sends (still going through app.mail, which logs them)."""
    sent = []
    original = mail.send_email

    def spy(to, subject, body, message_id=None):
        sent.append((to, subject, body))
        return original(to, subject, body, message_id)

    monkeypatch.setattr(mail, "send_email", spy)
    return sent


def link_token(sent, to: str, path: str) -> str:
    assert wait_until_delivered()  # a reset link goes through the outbox, after the response
    bodies = [body for recipient, _, body in sent if recipient == to]
    assert bodies, f"no email to {to}"
    match = re.search(re.escape(path) + r"([^\s/]+)", bodies[-1])
    assert match, f"no {path} link in the email to {to}"
    return match.group(1)


def everything_logged(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join([formatter.format(record) for record in caplog.records] + [caplog.text])


def reflection_form(task, answer: str, action: str) -> dict:
    data = {f"answer_{i}": answer for i in range(len(task.prompts))}
    data.update(resentment="4", closeness="6", stayed_present="partly", action=action)
    return data


def dev_server_requests(app, paths: list[str]) -> None:
    """Serve the app with the development server (which logs each request line) for `paths`."""
    db.session.remove()  # no transaction of the test's own open while the server thread works
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in paths:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10).read()
            except urllib.error.HTTPError:
                pass  # a used link answers 410: the request line is logged all the same
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_a_run_of_the_app_leaves_no_secret_in_the_logs(app, captured, outbox):
    therapist = make_therapist("Ruth")
    therapist_browser = app.test_client()
    login(therapist_browser, therapist)
    stranger = app.test_client()
    assert stranger.post("/login", data={"email": therapist.email,
                                         "password": WRONG_PASSWORD}).status_code == 200

    # An invitation, emailed with no mail server (the test config, like production without one).
    assert therapist_browser.post("/invitations/new", data={"email": INVITEE}).status_code == 302
    invitation_token = link_token(outbox, INVITEE, "/invitations/accept/")
    nonce = db.session.scalar(sa.select(Invitation.nonce).where(Invitation.email == INVITEE))
    invitee = app.test_client()
    assert invitee.get(f"/invitations/accept/{invitation_token}").status_code == 200
    assert invitee.post(f"/invitations/accept/{invitation_token}", data={
        "name": "Nora", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    client_user = db.session.scalar(sa.select(User).where(User.email == INVITEE))

    # A password reset, then signing in with the new password.
    assert stranger.post("/reset", data={"email": INVITEE}).status_code == 302
    reset_token = link_token(outbox, INVITEE, "/reset/")
    assert stranger.get(f"/reset/{reset_token}").status_code == 200
    assert stranger.post(f"/reset/{reset_token}", data={
        "password": RESET_PASSWORD, "confirm": RESET_PASSWORD}).status_code == 302
    client_browser = app.test_client()
    login(client_browser, client_user, password=RESET_PASSWORD)

    # A reflection, drafted (autosave) and sent; read, answered and annotated by the therapist.
    task = assign(therapist, client_user)
    assert client_browser.post(f"/tasks/{task.id}/draft",
                               data=reflection_form(task, DRAFT_SENTINEL, "save")).status_code == 200
    assert client_browser.post(f"/tasks/{task.id}",
                               data=reflection_form(task, REFLECTION_SENTINEL, "submit")).status_code == 302
    db.session.expire_all()
    reflection_id = task.reflection.id
    assert therapist_browser.get(f"/reflections/{reflection_id}").status_code == 200
    assert therapist_browser.post(f"/reflections/{reflection_id}/feedback", data={
        "body": FEEDBACK_SENTINEL, "mark_reviewed": "y"}).status_code == 302
    assert therapist_browser.post(f"/reflections/{reflection_id}/annotations", data={
        "body": ANNOTATION_SENTINEL}).status_code == 302
    assert client_browser.get(f"/tasks/{task.id}").status_code == 200

    # The development server's request lines, for both kinds of link.
    dev_server_requests(app, [f"/reset/{reset_token}", f"/invitations/accept/{invitation_token}"])

    logged = everything_logged(captured)
    # The capture works: the emails and the request lines were logged, without what they carry.
    assert f"Email to {INVITEE} not sent" in logged
    assert "/reset/[redacted]" in logged and "/invitations/accept/[redacted]" in logged
    secrets = {
        "the password": PASSWORD, "a new password": NEW_PASSWORD, "a reset password": RESET_PASSWORD,
        "a mistyped password": WRONG_PASSWORD, "the invitation token": invitation_token,
        "the invitation nonce": nonce, "the reset token": reset_token,
        "a reflection": REFLECTION_SENTINEL, "a draft": DRAFT_SENTINEL,
        "feedback": FEEDBACK_SENTINEL, "a private annotation": ANNOTATION_SENTINEL,
    }
    for browser in (therapist_browser, client_browser):
        cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
        if cookie is not None:
            secrets[f"a session cookie ({cookie.key})"] = cookie.value
    if getattr(conftest, "TOTP_SECRET", None):
        secrets["the two-factor secret"] = conftest.TOTP_SECRET
    found = [name for name, secret in secrets.items() if secret and secret in logged]
    assert not found, f"the logs hold {', '.join(found)}"
    # SQL (statements and fetched rows) stays out of the logs even with the root at DEBUG.
    assert not [r for r in captured.records if r.name.startswith("sqlalchemy.engine")]


def test_development_logs_the_whole_email_so_invitation_links_work_without_mail(app, captured,
                                                                                outbox):
    app.config["MAIL_LOG_BODIES"] = True  # DevelopmentConfig's setting (`make run`)
    therapist = make_therapist("Ruth")
    browser = app.test_client()
    login(browser, therapist)
    browser.post("/invitations/new", data={"email": INVITEE})
    token = link_token(outbox, INVITEE, "/invitations/accept/")
    assert f"/invitations/accept/{token}" in everything_logged(captured)


def test_a_database_error_never_carries_the_values_bound_to_it(app):
    with pytest.raises(sa.exc.DBAPIError) as error:
        db.session.execute(sa.text("SELECT answer FROM no_such_table WHERE answer = :answer"),
                           {"answer": REFLECTION_SENTINEL})
    db.session.rollback()
    assert REFLECTION_SENTINEL not in str(error.value)
    assert "no_such_table" in str(error.value)  # the statement itself still helps to debug


@pytest.mark.parametrize("line, expected", [
    ('127.0.0.1 - - [x] "GET /reset/eyJ1Ijo.abc-_ HTTP/1.1" 200 -',
     '127.0.0.1 - - [x] "GET /reset/[redacted] HTTP/1.1" 200 -'),
    ('"POST /invitations/accept/WzEsIm5v.sig?next=/home HTTP/1.1" 302 -',
     '"POST /invitations/accept/[redacted]?next=/home HTTP/1.1" 302 -'),
    ('"GET /reset HTTP/1.1" 200 -', '"GET /reset HTTP/1.1" 200 -'),
    ('"GET /tasks/12 HTTP/1.1" 200 -', '"GET /tasks/12 HTTP/1.1" 200 -'),
])
def test_request_lines_lose_their_tokens(line, expected):
    assert redact(line) == expected
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "%s", (line,), None)
    assert RedactTokens().filter(record) and record.getMessage() == expected
