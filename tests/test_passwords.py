"""The password rules and argon2id hashing."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.core import passwords
from app.extensions import db
from tests.conftest import PASSWORD, login, make_therapist

LONG_PASSPHRASE = ("the heron waits in the shallows while the tide turns slowly over stones "
                   "and the evening light goes amber across the salt marsh by the old sea wall now")


def test_long_passphrase_is_150_characters():
    assert len(LONG_PASSPHRASE) == 150


@pytest.mark.parametrize("password", ["", "a", "elevenchars", "short pass!"])
def test_fewer_than_12_characters_is_refused(app, password):
    assert len(password) < 12
    problem = passwords.password_problem(password)
    assert problem and "at least 12 characters" in problem


def test_exactly_12_characters_of_a_good_password_is_accepted(app):
    assert passwords.password_problem("violet ferns") is None


@pytest.mark.parametrize("password", [
    "leavemealone",       # on the list as it is
    "LeaveMeAlone",       # ... in any case
    "QWERTYUIOP123",
    "Password1234",       # a common word with digits added
    "PASSWORD1234!",
    "iloveyou12345",
])
def test_common_passwords_are_refused_in_any_case(app, password):
    assert len(password) >= 12
    problem = passwords.password_problem(password)
    assert problem and "very common passwords" in problem


def test_common_password_list_is_loaded(app):
    # A guard for the tests above: the list must be present and large.
    assert len(passwords._common_passwords()) > 10000
    assert "qwertyuiop123" in passwords._common_passwords()


def test_repeated_characters_are_refused(app):
    assert passwords.password_problem("aaaaaaaaaaaaaaaa") is not None
    assert passwords.password_problem("abababababababab") is not None


def test_password_starting_with_the_email_is_refused(app):
    problem = passwords.password_problem("margaret.hale-1854!", email="Margaret.Hale@example.org")
    assert problem and "email" in problem


def test_overlong_password_is_refused(app):
    assert passwords.password_problem("word " * 300) is not None


def test_long_passphrase_is_accepted_and_signs_in(app, client):
    assert passwords.password_problem(LONG_PASSPHRASE) is None
    therapist = make_therapist()
    therapist.password_hash = passwords.hash_password(LONG_PASSPHRASE)
    db.session.commit()
    login(client, therapist, password=LONG_PASSPHRASE)
    assert client.get("/caseload").status_code == 200
    wrong = app.test_client().post("/login", data={"email": therapist.email,
                                                    "password": LONG_PASSPHRASE[:-1]})
    assert wrong.status_code == 200


def test_hashes_are_argon2id_and_salted(app):
    first = passwords.hash_password("violet ferns by the gate")
    second = passwords.hash_password("violet ferns by the gate")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "violet" not in first


def test_verify_accepts_only_the_right_password(app):
    stored = passwords.hash_password("violet ferns by the gate")
    assert passwords.verify_password(stored, "violet ferns by the gate")
    assert not passwords.verify_password(stored, "violet ferns by the gate ")
    assert not passwords.verify_password(stored, "Violet ferns by the gate")


def test_verify_refuses_a_missing_or_broken_hash(app):
    assert passwords.verify_password(None, "anything at all") is False
    assert passwords.verify_password("", "anything at all") is False
    assert passwords.verify_password("not-a-hash", "anything at all") is False


def test_weaker_hash_parameters_are_upgraded_on_sign_in(app, client):
    therapist = make_therapist()
    therapist.password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    db.session.commit()
    assert passwords.needs_rehash(therapist.password_hash)
    login(client, therapist)
    db.session.expire_all()
    assert not passwords.needs_rehash(therapist.password_hash)
    login(app.test_client(), therapist)
