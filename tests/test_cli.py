"""The flask commands: create-therapist and seed-demo."""
from __future__ import annotations

import json

import sqlalchemy as sa

from app.extensions import db
from app.models import ROLE_CLIENT, ROLE_THERAPIST, User
from app.ops.demo import DEMO_PASSWORD
from tests.conftest import login, make_therapist

GOOD_PASSWORD = "quiet rooms with open windows"


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def users(**filters) -> list[User]:
    db.session.expire_all()
    return db.session.scalars(sa.select(User).filter_by(**filters).order_by(User.id)).all()


# --- create-therapist ------------------------------------------------------------------------

def test_create_therapist(app, client):
    result = run(app, "create-therapist", "--email", "Ada.Lovelace@Example.COM", "--name", "Ada Lovelace",
                 input=f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "ada.lovelace@example.com" in result.output
    assert GOOD_PASSWORD not in result.output  # the password is never echoed

    [therapist] = users()
    assert therapist.email == "ada.lovelace@example.com"
    assert therapist.name == "Ada Lovelace"
    assert therapist.role == ROLE_THERAPIST
    assert therapist.therapist_id is None
    assert therapist.password_hash.startswith("$argon2id$")

    login(client, therapist, password=GOOD_PASSWORD)
    # A new therapist sets up two-factor sign-in before anything else.
    assert client.get("/caseload").location == "/account/two-factor"
    assert client.get("/account/two-factor").status_code == 200


def test_create_therapist_prompts_for_everything(app):
    result = run(app, "create-therapist",
                 input=f"grace@example.org\nGrace Hopper\n{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert [u.email for u in users()] == ["grace@example.org"]


def test_create_therapist_refuses_a_weak_password(app):
    result = run(app, "create-therapist", "--email", "ada@example.org", "--name", "Ada",
                 input="short\nshort\n")
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output
    assert users() == []


def test_create_therapist_refuses_a_common_password(app):
    result = run(app, "create-therapist", "--email", "ada@example.org", "--name", "Ada",
                 input="Password1234\nPassword1234\n")
    assert result.exit_code != 0
    assert "very common" in result.output
    assert users() == []


def test_create_therapist_refuses_mismatched_passwords(app):
    result = run(app, "create-therapist", "--email", "ada@example.org", "--name", "Ada",
                 input=f"{GOOD_PASSWORD}\nsomething else entirely\n")
    assert result.exit_code != 0
    assert users() == []


def test_create_therapist_refuses_a_duplicate_email(app):
    existing = make_therapist(email="ada@example.org")
    result = run(app, "create-therapist", "--email", "ADA@example.org", "--name", "Another Ada",
                 input=f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert [u.id for u in users()] == [existing.id]
    assert users()[0].name == existing.name


def test_create_therapist_refuses_a_malformed_email(app):
    result = run(app, "create-therapist", "--email", "not-an-email", "--name", "Ada",
                 input=f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code != 0
    assert users() == []


# --- seed-demo -------------------------------------------------------------------------------

def test_seed_demo_creates_two_therapists_and_six_clients(app):
    result = run(app, "seed-demo")
    assert result.exit_code == 0, result.output
    assert "8 account(s) created" in result.output

    therapists = users(role=ROLE_THERAPIST)
    clients = users(role=ROLE_CLIENT)
    assert len(therapists) == 2
    assert len(clients) == 6
    therapist_ids = {t.id for t in therapists}
    assert {c.therapist_id for c in clients} == therapist_ids
    for therapist in therapists:
        assert sum(c.therapist_id == therapist.id for c in clients) == 3
    for person in therapists + clients:
        assert person.email in result.output
    assert DEMO_PASSWORD in result.output


def test_seed_demo_logins_work(app, client):
    run(app, "seed-demo")
    therapist = users(email="ruth.alder@example.com")[0]
    login(client, therapist, password=DEMO_PASSWORD)
    assert client.get("/").location == "/caseload"
    maria = users(email="maria.lopez@example.com")[0]
    assert maria.therapist_id == therapist.id
    other = app.test_client()
    login(other, maria, password=DEMO_PASSWORD)
    assert other.get("/").location == "/home"


def test_seed_demo_is_idempotent(app):
    first = run(app, "seed-demo")
    assert first.exit_code == 0
    before = [(u.id, u.email, u.password_hash) for u in users()]

    second = run(app, "seed-demo")
    assert second.exit_code == 0, second.output
    assert "already present; nothing added" in second.output
    assert [(u.id, u.email, u.password_hash) for u in users()] == before
    assert len(before) == 8
    for _, email, _ in before:
        assert email in second.output  # the logins are still printed


def test_seed_demo_completes_a_partial_demo(app):
    run(app, "seed-demo")
    db.session.execute(sa.delete(User).where(User.email == "jonah.price@example.com"))
    db.session.commit()
    result = run(app, "seed-demo")
    assert "1 account(s) created" in result.output
    assert len(users()) == 8


def test_seed_demo_json(app):
    result = run(app, "seed-demo", "--json")
    assert result.exit_code == 0, result.output
    logins = json.loads(result.stdout)
    assert isinstance(logins, list) and len(logins) == 8
    for row in logins:
        assert {"email", "password", "role", "therapist", "partner"} <= row.keys()
        assert row["password"] == DEMO_PASSWORD
    roles = [row["role"] for row in logins]
    assert roles.count("therapist") == 2 and roles.count("client") == 6
    by_email = {row["email"]: row for row in logins}
    maria = by_email["maria.lopez@example.com"]
    assert maria["therapist"] == "ruth.alder@example.com"
    assert maria["partner"] == "elena.lopez@example.com"
    assert by_email["elena.lopez@example.com"]["partner"] == "maria.lopez@example.com"
    assert by_email["ruth.alder@example.com"]["therapist"] is None
    # Every login printed is a real account.
    assert sorted(u.email for u in users()) == sorted(by_email)


def test_seed_demo_is_refused_when_demo_data_is_not_allowed(app, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOW_DEMO_DATA", False)
    result = run(app, "seed-demo")
    assert result.exit_code != 0
    assert "Refusing" in result.output
    assert users() == []
    assert run(app, "seed-demo", "--json").exit_code != 0
    assert users() == []


def test_seed_demo_if_empty_leaves_a_real_database_alone(app):
    make_therapist()
    result = run(app, "seed-demo", "--if-empty")
    assert result.exit_code == 0
    assert len(users()) == 1


def test_seed_demo_if_empty_fills_an_empty_database(app):
    result = run(app, "seed-demo", "--if-empty")
    assert result.exit_code == 0
    assert len(users()) == 8
