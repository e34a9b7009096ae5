"""The keys checked against the data (issue 22, item 1).

A server started with a wrong but valid ENCRYPTION_KEYS refuses to start in production and
`flask check-deploy` fails; a value no configured key can read shows a placeholder instead of
making a page fail, and the client can save over it; `flask verify-data` lists such values and
`flask rotate-key` skips them, leaving them exactly as they are.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified

from app import create_app
from app.core.crypto import (
    KeyCheckError,
    KeyRing,
    Unreadable,
    UnreadableDocument,
    encrypt,
    error_id,
    keyring,
)
from app.core.key_check import CHECK_TEXT, check_keys
from app.extensions import db
from app.models import AgendaItem, Assignment, KeyCheck, Reflection
from config import DevelopmentConfig, ProductionConfig
from tests.builders_homework import assign, built_in, textarea
from tests.conftest import login, make_client, make_therapist

STRONG_SECRET = secrets.token_hex(32)
PLACEHOLDER = re.compile(r"This text cannot be read \(error ([0-9a-f]{10})\)")


def material() -> str:
    return base64.b64encode(os.urandom(32)).decode()


A, B, C = material(), material(), material()


@pytest.fixture
def servers(app, monkeypatch):
    """Build other apps (servers) on the suite's database; their engines are closed after."""
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # a server, not a `flask` command
    made = []

    def build(keys: str | None, base=ProductionConfig):
        class Server(base):
            SECRET_KEY = STRONG_SECRET
            ENCRYPTION_KEYS = keys
            SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
            TRUSTED_HOSTS = None

        server = create_app(Server)
        made.append(server)
        return server

    yield build
    for server in made:
        with server.app_context():
            db.session.remove()
            db.engine.dispose()


def stored_checks() -> dict[str, str]:
    db.session.expire_all()
    return {row.key_id: row.check_value for row in db.session.scalars(sa.select(KeyCheck))}


def raw(table: str, column: str, row_id: int) -> str:
    with db.engine.connect() as conn:
        return conn.scalar(sa.text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id})


def set_raw(table: str, column: str, row_id: int, value: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                     {"v": value, "id": row_id})


def under_another_key(text: str, key_id: str | None = None) -> str:
    """What a server with other key material (under the same id by default) wrote."""
    return KeyRing(((key_id or keyring().current_id, os.urandom(32)),)).encrypt(text)


def check_deploy(server):
    """`flask check-deploy` on that server (its own app context: the suite's is pushed too)."""
    with server.app_context():
        return server.test_cli_runner().invoke(args=["check-deploy"])


def deploy_line(result) -> str:
    [line] = [line for line in result.output.splitlines() if "keys against the data" in line]
    return line


# --- a server with the wrong keys -----------------------------------------------------------------

def test_a_server_with_other_keys_refuses_to_start_in_production(app, servers):
    servers(f"k1:{A}")  # the first server: its key's check value is stored
    checks = stored_checks()
    assert list(checks) == ["k1"] and checks["k1"].startswith("enc:v1:k1:")
    assert KeyRing((("k1", base64.b64decode(A)),)).decrypt(checks["k1"]) == CHECK_TEXT

    for wrong, named in ((f"k1:{B}", "'k1'"),  # same id, other key material
                         (f"k2:{B}", "'k1'")):  # a key this database never saw
        with pytest.raises(RuntimeError, match="Refusing to start: ENCRYPTION_KEYS does not match "
                                               "this database") as refused:
            servers(wrong)
        message = str(refused.value)
        assert named in message and A not in message and B not in message
        assert message.count(". ") == 0  # one sentence
    assert list(stored_checks()) == ["k1"]  # a refused server stored nothing

    # Rotation: a new key in front of the old one starts, and stores the new key's check value.
    servers(f"k2:{B},k1:{A}")
    assert sorted(stored_checks()) == ["k1", "k2"]
    servers(f"k2:{B}")  # the old key removed after `flask rotate-key`
    with pytest.raises(RuntimeError, match="'k2'"):
        servers(f"k2:{C},k1:{A}")  # the new key's material differs from the one stored
    assert sorted(stored_checks()) == ["k1", "k2"]


def test_check_deploy_fails_on_keys_that_do_not_match_the_data(app, servers, monkeypatch, caplog):
    right = servers(f"k1:{A}")
    line = deploy_line(check_deploy(right))
    assert line.startswith("OK") and "'k1'" in line

    # `flask ...` commands load the app without refusing, so that they can say what is wrong.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    with caplog.at_level(logging.ERROR):
        wrong = servers(f"k1:{B}")
    assert "does not match this database" in caplog.text and B not in caplog.text
    result = check_deploy(wrong)
    assert result.exit_code == 1
    line = deploy_line(result)
    assert line.startswith("FAIL") and "does not match this database" in line
    assert A not in result.output and B not in result.output
    # ... and nothing is encrypted with those keys.
    with wrong.app_context():
        with pytest.raises(KeyCheckError):
            encrypt("written by the wrong server")
    # Trying a new setting with a command never records it: only a server's start does.
    trying = servers(f"k2:{C},k1:{A}")
    assert deploy_line(check_deploy(trying)).startswith("OK")
    assert list(stored_checks()) == ["k1"]


def test_development_starts_but_refuses_to_encrypt_with_the_wrong_keys(app, servers, caplog):
    servers(f"k1:{A}", base=DevelopmentConfig)
    with caplog.at_level(logging.ERROR):
        wrong = servers(f"k1:{B}", base=DevelopmentConfig)
    assert "does not match this database" in caplog.text
    with wrong.app_context():
        with pytest.raises(KeyCheckError, match="does not match this database"):
            encrypt("would be unreadable")
    assert servers(f"k1:{A}", base=DevelopmentConfig)  # the right keys again: all well


def test_a_database_from_before_the_check_is_checked_against_its_data(app, servers):
    """No check value stored yet (a database upgraded to 0014): the newest values stand in."""
    therapist = make_therapist()
    item = AgendaItem(client_id=make_client(therapist).id, therapist_id=therapist.id, body="x")
    db.session.add(item)
    db.session.commit()
    set_raw("agenda_items", "body", item.id,
            KeyRing((("k1", base64.b64decode(A)),)).encrypt("written before 0014"))
    with pytest.raises(RuntimeError, match="'k1'"):
        servers(f"k1:{B}")
    with pytest.raises(RuntimeError, match="'k1'.*not in ENCRYPTION_KEYS"):
        servers(f"k2:{B}")
    assert stored_checks() == {}
    servers(f"k2:{B},k1:{A}")  # k1 opened the data: both keys' check values are stored
    assert sorted(stored_checks()) == ["k1", "k2"]


# --- one unreadable value never makes a page fail ---------------------------------------------------

def hidden_fields(html: str) -> dict:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag and 'name="' in tag:
            name = re.search(r'name="([^"]*)"', tag).group(1)
            value = re.search(r'value="([^"]*)"', tag)
            fields[name] = value.group(1) if value else ""
    return fields


def test_a_draft_written_under_another_key_shows_a_placeholder_and_she_can_save_over_it(app, caplog):
    ruth = make_therapist("Ruth")
    maria = make_client(ruth, "Maria")
    task = assign(ruth, maria, built_in("stay_present"), due=0, note="A note from Ruth")
    browser = app.test_client()
    login(browser, maria)
    draft = {"answer_0": "my first words", "answer_1": "", "answer_2": "",
             "resentment": "", "closeness": "", "stayed_present": ""}
    assert browser.post(f"/tasks/{task.id}/draft", data=draft).json["saved"] is True
    reflection_id = db.session.scalar(sa.select(Reflection.id).where(Reflection.assignment_id == task.id))

    # What a server with the wrong key wrote: her draft and the therapist's note on the task.
    bad_answers = under_another_key(json.dumps(["WRONG-SERVER words", "", ""]))
    bad_note = under_another_key("WRONG-SERVER note")
    set_raw("reflections", "answers", reflection_id, bad_answers)
    set_raw("assignments", "note", task.id, bad_note)

    with caplog.at_level(logging.ERROR):
        home = browser.get("/home")
        page = browser.get(f"/tasks/{task.id}")
    assert home.status_code == 200
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert {error_id(bad_answers), error_id(bad_note)} <= set(PLACEHOLDER.findall(html))
    assert "enc:v1:" not in html and "WRONG-SERVER" not in html
    assert PLACEHOLDER.fullmatch(textarea(html, "answer_0"))
    # The log names the column and the error id, never the text nor a key.
    assert f"reflections.answers (error {error_id(bad_answers)})" in caplog.text
    assert f"assignments.note (error {error_id(bad_note)})" in caplog.text
    assert "WRONG-SERVER" not in caplog.text

    # She saves over it, with the autosave and then with the form's own button.
    fields = hidden_fields(html)
    fields.pop("csrf_token", None)
    saved = browser.post(f"/tasks/{task.id}/draft", data={**fields, **draft, "answer_0": "written again"})
    assert saved.status_code == 200 and saved.json["saved"] is True, saved.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Reflection, reflection_id).answers == ["written again", "", ""]
    assert raw("reflections", "answers", reflection_id).startswith(f"enc:v1:{keyring().current_id}:")
    html = browser.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert textarea(html, "answer_0") == "written again"

    set_raw("reflections", "answers", reflection_id, bad_answers)  # and once more, then sent
    fields = hidden_fields(browser.get(f"/tasks/{task.id}").get_data(as_text=True))
    fields.pop("csrf_token", None)
    sent = browser.post(f"/tasks/{task.id}", data={
        **fields, **draft, "answer_0": "sent in the end", "resentment": "3", "closeness": "6",
        "stayed_present": "yes", "action": "submit"})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    db.session.expire_all()
    reflection = db.session.get(Reflection, reflection_id)
    assert reflection.status == "submitted" and reflection.answers == ["sent in the end", "", ""]
    assert browser.get("/home").status_code == 200


def test_a_placeholder_written_back_stores_the_same_ciphertext_never_its_sentence(app):
    therapist = make_therapist()
    client = make_client(therapist)
    item = AgendaItem(client_id=client.id, therapist_id=therapist.id, body="to be lost")
    task = assign(therapist, client)
    db.session.add(item)
    db.session.commit()
    bad_body, bad_note = under_another_key("lost words"), under_another_key("lost note")
    set_raw("agenda_items", "body", item.id, bad_body)
    set_raw("assignments", "note", task.id, bad_note)
    reflection = Reflection(assignment_id=task.id, author_id=client.id, answers=["x"], status="draft")
    db.session.add(reflection)
    db.session.commit()
    bad_answers = under_another_key(json.dumps(["lost answer"]))
    set_raw("reflections", "answers", reflection.id, bad_answers)
    db.session.expire_all()

    item, task, reflection = (db.session.get(AgendaItem, item.id), db.session.get(Assignment, task.id),
                              db.session.get(Reflection, reflection.id))
    assert isinstance(item.body, Unreadable) and isinstance(reflection.answers, UnreadableDocument)
    assert reflection.answers == [f"This text cannot be read (error {error_id(bad_answers)})"]
    # A whole row written again, and the text copied into another row (as a note's revision is).
    for obj, name in ((item, "body"), (task, "note"), (reflection, "answers")):
        flag_modified(obj, name)
    copy = AgendaItem(client_id=client.id, therapist_id=therapist.id, body=item.body)
    db.session.add(copy)
    db.session.commit()
    assert raw("agenda_items", "body", item.id) == bad_body
    assert raw("agenda_items", "body", copy.id) == bad_body
    assert raw("assignments", "note", task.id) == bad_note
    assert raw("reflections", "answers", reflection.id) == bad_answers


# --- flask verify-data and flask rotate-key ---------------------------------------------------------

def agenda_items(texts: list[str]) -> list[int]:
    therapist = make_therapist()
    client = make_client(therapist)
    items = [AgendaItem(client_id=client.id, therapist_id=therapist.id, body=t) for t in texts]
    db.session.add_all(items)
    db.session.commit()
    return [item.id for item in items]


def test_verify_data_lists_every_value_it_cannot_read(app):
    ids = agenda_items([f"item {n}" for n in range(5)])
    runner = app.test_cli_runner()
    fine = runner.invoke(args=["verify-data"])
    assert fine.exit_code == 0, fine.output
    assert "agenda_items.body: 5 values: 5 readable" in fine.output and "all " in fine.output

    wrong_key, unknown_key = under_another_key("SECRET-A"), under_another_key("SECRET-B", "gone")
    set_raw("agenda_items", "body", ids[1], wrong_key)
    set_raw("agenda_items", "body", ids[3], unknown_key)
    set_raw("agenda_items", "body", ids[4], "legacy plain words")
    result = runner.invoke(args=["verify-data", "--batch-size", "2"])
    assert result.exit_code == 1
    assert "agenda_items.body: 5 values: 2 readable" in result.output
    assert "1 plain text, 2 cannot be read" in result.output
    assert f"cannot be read: id {ids[1]} (error {error_id(wrong_key)})" in result.output
    assert f"cannot be read: id {ids[3]} (error {error_id(unknown_key)})" in result.output
    assert "'gone'" in result.output and "2 of " in result.output
    assert "SECRET-" not in result.output and "enc:v1:" not in result.output
    # Nothing was written.
    assert raw("agenda_items", "body", ids[1]) == wrong_key


def test_rotate_key_skips_and_reports_the_values_it_cannot_read(app):
    old, new = f"old:{A}", f"new:{B}"
    app.config["ENCRYPTION_KEYS"] = old
    ids = agenda_items([f"item {n}" for n in range(4)])
    wrong_key, unknown_key = under_another_key("SECRET-A"), under_another_key("SECRET-B", "gone")
    set_raw("agenda_items", "body", ids[0], wrong_key)
    set_raw("agenda_items", "body", ids[2], unknown_key)

    app.config["ENCRYPTION_KEYS"] = f"{new},{old}"
    result = app.test_cli_runner().invoke(args=["rotate-key", "--batch-size", "2"])
    assert result.exit_code == 1
    assert f"skipped agenda_items.body id {ids[0]} (error {error_id(wrong_key)})" in result.output
    assert f"skipped agenda_items.body id {ids[2]} (error {error_id(unknown_key)})" in result.output
    assert "Done: 2 values re-encrypted" in result.output and "2 could not be read" in result.output
    assert "SECRET-" not in result.output
    # Left exactly as they were; everything else moved to the new key.
    assert raw("agenda_items", "body", ids[0]) == wrong_key
    assert raw("agenda_items", "body", ids[2]) == unknown_key
    for item_id in (ids[1], ids[3]):
        assert raw("agenda_items", "body", item_id).startswith("enc:v1:new:")
    # The check values stay under their own keys (rotation never moves them).
    checks = stored_checks()
    assert sorted(checks) == ["new", "old"] and checks["old"].startswith("enc:v1:old:")


def test_rotate_key_refuses_keys_that_do_not_match_the_data(app):
    app.config["ENCRYPTION_KEYS"] = f"k1:{A}"
    [item_id] = agenda_items(["kept safe"])
    assert check_keys(db.engine, db.metadata, keyring(), write=True).written == ("k1",)
    before = raw("agenda_items", "body", item_id)
    app.config["ENCRYPTION_KEYS"] = f"k2:{C},k1:{B}"  # k1 with other key material
    result = app.test_cli_runner().invoke(args=["rotate-key"])
    assert result.exit_code == 1
    assert "does not match this database" in result.output and "Nothing was re-encrypted" in result.output
    assert raw("agenda_items", "body", item_id) == before
    assert sorted(stored_checks()) == ["k1"]
