"""Posting extra fields (role, therapist_id, author_id, ...) changes nothing they name."""
import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import Reflection, User
from tests.builders_homework import assign
from tests.conftest import PASSWORD, login


def test_a_client_cannot_make_herself_a_therapist_or_move_therapists(app, people):
    maria = people["client"]
    browser = app.test_client()
    login(browser, maria)
    browser.post("/account", data={"name": "Maria", "timezone": "Europe/London", "role": "therapist",
                                   "therapist_id": people["other_therapist"].id, "closed_at": "",
                                   "totp_enabled_at": "2020-01-01", "email": "evil@example.org"})
    db.session.expire_all()
    user = db.session.get(User, maria.id)
    assert (user.role, user.therapist_id, user.email) == ("client", people["therapist"].id, maria.email)


def test_a_draft_cannot_be_written_in_someone_elses_name(app, people):
    maria = people["client"]
    task = assign(people["therapist"], maria)
    browser = app.test_client()
    login(browser, maria)
    response = browser.post(f"/tasks/{task.id}/draft", data={
        "answer_0": "mine", "author_id": people["other_client_same_therapist"].id,
        "assignment_id": 999999, "status": "submitted", "reviewed_at": "2020-01-01"})
    assert response.status_code == 200
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert (reflection.author_id, reflection.status, reflection.reviewed_at) == (maria.id, "draft", None)


def test_an_invitation_always_makes_a_client_of_the_inviting_therapist(app, people):
    from app.accounts.invitations import invitation_token, invite_client

    with current_app.test_request_context():
        invitation = invite_client(people["therapist"], "newcomer@example.org")
    token = invitation_token(invitation)
    browser = app.test_client()
    browser.post(f"/invitations/accept/{token}", data={
        "name": "Newcomer", "password": PASSWORD, "confirm": PASSWORD, "role": "therapist",
        "therapist_id": people["other_therapist"].id, "email": "other@example.org"})
    user = db.session.scalar(sa.select(User).where(User.email == "newcomer@example.org"))
    assert (user.role, user.therapist_id) == ("client", people["therapist"].id)
    assert db.session.scalar(sa.select(User).where(User.email == "other@example.org")) is None
