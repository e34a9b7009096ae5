"""Encryption at rest: raw rows hold no plain text, the app reads them back, a wrong or missing
key fails loudly, `flask rotate-key` moves everything to the current key, legacy plain values
stay readable, and migrations 0006 and 0010 keep every row through upgrade, downgrade and
upgrade."""
from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app import create_app
from app.core.clock import today_for
from app.core.crypto import (
    DecryptionError,
    EncryptionConfigError,
    Unreadable,
    derive_key,
    encrypted_columns,
    error_id,
    keyring,
)
from app.extensions import db
from app.models import Addendum, AgendaItem, Assignment, Feedback, Reflection, SessionNote
from config import ProductionConfig, TestingConfig, normalise_database_url
from tests.builders_homework import assign, built_in
from tests.builders_sessions import linked_pair, record
from tests.conftest import login, make_client, make_therapist

LISTED_BY_0006 = {
    ("reflections", "answers"), ("addenda", "body"), ("feedback", "body"),
    ("private_annotations", "body"), ("session_notes", "body"), ("session_note_revisions", "body"),
    ("clinical_notes", "body"), ("clinical_note_revisions", "body"), ("session_comments", "body"),
    ("agenda_items", "body"),
}
# 0010: the therapist's note on a task (a pair exercise's note is copied onto both members' tasks).
LISTED_BY_0010 = {("assignments", "note")}
LISTED = LISTED_BY_0006 | LISTED_BY_0010
# 0012: a member's reply after a pair's reveal (a table created encrypted; checked on its own below).
LISTED_BY_0012 = {("pair_replies", "body")}
# 0016: messages, and the outbox's bodies (a reset or invitation link carries a token). Checked in
# tests/test_messages.py and tests/test_outbox.py.
LISTED_BY_0016 = {("messages", "body"), ("outbox", "body")}
# 0017: a session's place or video link, clinical notes' template sections, note drafts. Checked
# in tests/test_schedule.py and tests/test_note_drafts.py.
LISTED_BY_0017 = {("therapy_sessions", "location"), ("clinical_notes", "sections"),
                  ("clinical_note_revisions", "sections"), ("note_drafts", "body"),
                  ("note_drafts", "sections")}
# One sentinel per place it is written, with non-ASCII text so the UTF-8 round trip is exercised.
MARK = "Zebrafish-" + secrets.token_hex(4)


def sentinel(name: str) -> str:
    return f"{MARK}-{name} — ünïcødé 🌱"


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def raw_values(table: str, column: str) -> list:
    """The stored values, read with plain SQL (no model, no column type in between)."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {column} FROM {table} ORDER BY id"))
        return [row[0] for row in rows]


def tables_holding(needle: str) -> list[str]:
    """Every table.column of the whole database whose text contains `needle`."""
    found = []
    inspector = sa.inspect(db.engine)
    with db.engine.connect() as conn:
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                name = column["name"]
                hits = conn.scalar(sa.text(
                    f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{name}" AS TEXT) LIKE :p'),
                    {"p": f"%{needle}%"})
                if hits:
                    found.append(f"{table}.{name}")
    return found


def browser(app, user):
    b = app.test_client()
    login(b, user)
    return b


def write_everything_through_the_app(app) -> dict:
    """One of everything encrypted, written through the real routes by the people who write it."""
    ruth = make_therapist("Ruth")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    pair = linked_pair(ruth, maria, elena)
    ruth_b, maria_b = browser(app, ruth), browser(app, maria)

    task = assign(ruth, maria, built_in("stay_present"), due=0)
    # A draft first (the conditional UPDATE ... .values(answers=...) path), then the send.
    draft = maria_b.post(f"/tasks/{task.id}/draft", data={
        "answer_0": sentinel("draft"), "answer_1": "", "answer_2": "",
        "resentment": "", "closeness": "", "stayed_present": ""})
    assert draft.status_code == 200 and draft.json["saved"] is True
    draft_raw = raw_values("reflections", "answers")
    assert len(draft_raw) == 1 and MARK not in draft_raw[0] and draft_raw[0].startswith("enc:v1:")
    sent = maria_b.post(f"/tasks/{task.id}", data={
        "answer_0": sentinel("answer0"), "answer_1": sentinel("answer1"), "answer_2": "",
        "resentment": "3", "closeness": "6", "stayed_present": "yes", "action": "submit"})
    assert sent.status_code == 302
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert reflection.status == "submitted"

    assert maria_b.post(f"/reflections/{reflection.id}/addenda",
                        data={"body": sentinel("addendum")}).status_code == 302
    assert ruth_b.post(f"/reflections/{reflection.id}/feedback",
                       data={"body": sentinel("feedback"), "mark_reviewed": "y"}).status_code == 302
    assert ruth_b.post(f"/reflections/{reflection.id}/annotations",
                       data={"body": sentinel("annotation")}).status_code == 302

    solo = record(ruth, maria)
    for version, words in enumerate((sentinel("shared1"), sentinel("shared2"))):
        assert ruth_b.post(f"/sessions/{solo.id}/shared-note",
                           data={"body": words, "version": str(version)}).status_code == 302
    for version, words in enumerate((sentinel("clinical1"), sentinel("clinical2"))):
        assert ruth_b.post(f"/sessions/{solo.id}/clinical-note", data={
            "clinical-body": words, "clinical-version": str(version)}).status_code == 302
    assert maria_b.post(f"/sessions/{solo.id}/comments",
                        data={"body": sentinel("comment")}).status_code == 302
    assert maria_b.post("/agenda", data={"body": sentinel("agenda")}).status_code == 302

    together = record(ruth, pair)
    assert maria_b.post(f"/sessions/{together.id}/member-notes", data={
        "body": sentinel("member1"), "visibility": "therapist", "version": "0"}).status_code == 302
    db.session.expire_all()
    note = db.session.scalar(sa.select(SessionNote).where(SessionNote.kind == "member"))
    prefix = f"note{note.id}-"
    assert maria_b.post(f"/session-notes/{note.id}", data={
        prefix + "body": sentinel("member2"), prefix + "version": "1",
        prefix + "visibility": "pair"}).status_code == 302
    db.session.expire_all()

    # The therapist's notes on a task and on a pair exercise, through the assign forms.
    exercise, due = built_in("choose_battles"), (today_for(maria) + timedelta(days=3)).isoformat()
    assert ruth_b.post(f"/clients/{maria.id}/assign", data={
        "exercise_id": exercise.id, "due_date": due, "note": sentinel("task-note"),
        "repeat": "none", "times": "1"}).status_code == 302
    assert ruth_b.post(f"/pairs/{pair.id}/assign", data={
        "exercise_id": exercise.id, "due_date": due,
        "note": sentinel("pair-note")}).status_code == 302
    db.session.expire_all()
    noted = db.session.scalars(sa.select(Assignment).where(Assignment.exercise_id == exercise.id)
                               .order_by(Assignment.id)).all()
    assert [t.pair_exercise_id is not None for t in noted] == [False, True, True]
    return dict(ruth=ruth, maria=maria, elena=elena, ruth_b=ruth_b, maria_b=maria_b,
                elena_b=browser(app, elena), task=task, reflection=reflection, solo=solo,
                together=together, note_task=noted[0], pair_tasks=noted[1:])


def assert_task_notes_read_back(world) -> None:
    """The client and the therapist read the notes on the task and on the pair exercise."""
    note_task, pair_tasks = world["note_task"], world["pair_tasks"]
    for who in ("maria_b", "ruth_b"):
        page = world[who].get(f"/tasks/{note_task.id}").get_data(as_text=True)
        assert sentinel("task-note") in page, who
    for task in pair_tasks:
        reader = world["maria_b"] if task.client_id == world["maria"].id else world["elena_b"]
        for who in (reader, world["ruth_b"]):
            assert sentinel("pair-note") in who.get(f"/tasks/{task.id}").get_data(as_text=True)
    db.session.expire_all()
    notes = db.session.scalars(sa.select(Assignment.note).where(
        Assignment.id.in_([note_task.id] + [t.id for t in pair_tasks])).order_by(Assignment.id))
    assert list(notes) == [sentinel("task-note"), sentinel("pair-note"), sentinel("pair-note")]


# --- what is encrypted ------------------------------------------------------------------------

def test_exactly_the_listed_free_text_columns_are_encrypted(app):
    assert {(c.table.name, c.name) for c in encrypted_columns(db.metadata)} == \
        LISTED | LISTED_BY_0012 | LISTED_BY_0016 | LISTED_BY_0017


def test_a_reply_after_the_reveal_is_stored_encrypted(app):
    from app.pairs import replies
    from app.pairs import services as pair_services
    from tests.builders_homework import submit
    from tests.builders_pairs import give_to_pair, link

    ruth = make_therapist("Ruth")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    _, tasks = give_to_pair(ruth, link(ruth, maria, elena), reveal_together=True)
    mine = submit(maria, tasks[maria.id])
    pair_services.share(maria, mine)
    pair_services.share(elena, submit(elena, tasks[elena.id]))
    replies.add_reply(elena, mine, 0, body=sentinel("reply"))
    (raw,) = raw_values("pair_replies", "body")
    assert raw.startswith("enc:v1:") and MARK not in raw
    assert _read_through_models()[("pair_replies", "body")] == [sentinel("reply")]


def test_raw_rows_hold_no_plain_text_and_the_app_reads_them_back(app):
    world = write_everything_through_the_app(app)

    current_id = derive_key(app.config["SECRET_KEY"])[0]
    for table, column in sorted(LISTED):
        values = raw_values(table, column)
        assert values, f"the test wrote nothing to {table}.{column}"
        for value in values:
            assert value.startswith(f"enc:v1:{current_id}:"), f"{table}.{column}: {value[:40]!r}"
            assert MARK not in value and "ünïcødé" not in value
    # Nowhere else either: not in any column of any table (audit rows, notifications, ...).
    assert tables_holding(MARK) == []

    # The people who may read them read the text, exactly.
    reading = world["ruth_b"].get(f"/reflections/{world['reflection'].id}").get_data(as_text=True)
    for name in ("answer0", "answer1", "addendum", "feedback", "annotation"):
        assert sentinel(name) in reading, name
    session_page = world["ruth_b"].get(f"/sessions/{world['solo'].id}").get_data(as_text=True)
    for name in ("shared2", "clinical2", "comment"):
        assert sentinel(name) in session_page, name
    history = world["ruth_b"].get(f"/sessions/{world['solo'].id}/history").get_data(as_text=True)
    for name in ("shared1", "clinical1"):
        assert sentinel(name) in history, name
    pair_page = world["ruth_b"].get(f"/sessions/{world['together'].id}").get_data(as_text=True)
    assert sentinel("member2") in pair_page
    assert sentinel("agenda") in world["maria_b"].get("/sessions").get_data(as_text=True)
    assert_task_notes_read_back(world)
    db.session.expire_all()
    reflection = db.session.get(Reflection, world["reflection"].id)
    assert reflection.answers == [sentinel("answer0"), sentinel("answer1"), ""]


def test_sql_cannot_compare_an_encrypted_column(app):
    with pytest.raises(NotImplementedError, match="encrypted"):
        sa.select(Feedback.id).where(Feedback.body == "anything")
    with pytest.raises(NotImplementedError, match="encrypted"):
        sa.select(Addendum.id).where(Addendum.body.contains("x"))
    with pytest.raises(NotImplementedError, match="encrypted"):
        sa.select(Assignment.id).where(Assignment.note != "")
    sa.select(Feedback.id).where(Feedback.body.is_(None))  # IS NULL still works


# --- keys ---------------------------------------------------------------------------------------

def _agenda_item(text: str) -> int:
    therapist = make_therapist()
    item = AgendaItem(client_id=make_client(therapist).id, therapist_id=therapist.id, body=text)
    db.session.add(item)
    db.session.commit()
    item_id = item.id
    db.session.expire_all()
    return item_id


def _read_agenda(item_id: int) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(AgendaItem.body).where(AgendaItem.id == item_id))


def test_the_same_text_twice_is_stored_differently(app):
    # A fresh nonce per value: equal texts cannot be spotted by comparing rows.
    first, second = _agenda_item("the same words"), _agenda_item("the same words")
    one, two = raw_values("agenda_items", "body")
    assert one != two and one.rsplit(":", 1)[1][:16] != two.rsplit(":", 1)[1][:16]
    assert _read_agenda(first) == _read_agenda(second) == "the same words"


def test_configured_keys_encrypt_with_the_first_and_read_with_any(app):
    first, second = new_key("k2"), new_key("k1")
    app.config["ENCRYPTION_KEYS"] = second
    older = _agenda_item("written under k1")
    app.config["ENCRYPTION_KEYS"] = f"{first}, {second}"
    newer = _agenda_item("written under k2")
    assert [v.split(":")[2] for v in raw_values("agenda_items", "body")] == ["k1", "k2"]
    assert (_read_agenda(older), _read_agenda(newer)) == ("written under k1", "written under k2")
    assert repr(keyring()) == "KeyRing(ids=['k2', 'k1'])"  # no key material in logs or tracebacks


def test_a_key_missing_from_the_configuration_fails_loudly(app, caplog):
    app.config["ENCRYPTION_KEYS"] = new_key("old")
    item_id = _agenda_item("needs the old key")
    [stored] = raw_values("agenda_items", "body")
    app.config["ENCRYPTION_KEYS"] = new_key("new")
    with pytest.raises(DecryptionError, match="'old'.*not in ENCRYPTION_KEYS"):
        keyring().decrypt(stored)
    # Through the column type: the placeholder, and the reason in the log (never the text).
    read = _read_agenda(item_id)
    assert isinstance(read, Unreadable) and read.startswith("This text cannot be read (error ")
    assert "needs the old key" not in read
    assert "agenda_items.body" in caplog.text and "not in ENCRYPTION_KEYS" in caplog.text


def test_a_wrong_key_under_the_same_id_fails_loudly_and_never_shows_garbage(app):
    write = new_key("k1")
    app.config["ENCRYPTION_KEYS"] = write
    world = write_everything_through_the_app(app)
    reading = f"/reflections/{world['reflection'].id}"
    app.config["ENCRYPTION_KEYS"] = new_key("k1")  # same id, other key material
    [stored] = raw_values("feedback", "body")
    with pytest.raises(DecryptionError, match="does not decrypt"):
        keyring().decrypt(stored)
    db.session.expire_all()
    [placeholder] = db.session.scalars(sa.select(Feedback.body)).all()
    assert isinstance(placeholder, Unreadable) and placeholder.stored == stored
    # The page still answers, with the placeholder in place of each text: never garbage, never
    # the ciphertext (tests/test_key_check.py follows a client's pages through this).
    response = world["ruth_b"].get(reading)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "enc:v1:" not in page and MARK not in page
    assert f"This text cannot be read (error {error_id(stored)})" in page
    app.config["ENCRYPTION_KEYS"] = write
    page = world["ruth_b"].get(reading).get_data(as_text=True)
    assert sentinel("feedback") in page and "cannot be read" not in page


def test_an_altered_value_fails_loudly(app):
    item_id = _agenda_item("do not touch")
    [stored] = raw_values("agenda_items", "body")
    head, payload = stored.rsplit(":", 1)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    altered = f"{head}:{base64.b64encode(bytes(raw)).decode()}"
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE agenda_items SET body = :b"), {"b": altered})
    with pytest.raises(DecryptionError):
        keyring().decrypt(altered)
    assert _read_agenda(item_id) == f"This text cannot be read (error {error_id(altered)})"


@pytest.mark.parametrize("keys, message", [
    ("k1", "id:base64key"),
    ("k1:not base64!", "not valid base64"),
    ("k1:" + base64.b64encode(b"x" * 16).decode(), "16 bytes"),
    (new_key("k1") + "," + new_key("k1"), "twice"),
    (",", "no key"),
])
def test_a_malformed_key_setting_stops_the_app_at_start(tmp_path, keys, message):
    class Misconfigured(TestingConfig):
        ENCRYPTION_KEYS = keys
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'x.sqlite'}"

    with pytest.raises(EncryptionConfigError, match=message):
        create_app(Misconfigured)


def test_production_refuses_to_start_without_encryption_keys(tmp_path):
    class Production(ProductionConfig):
        SECRET_KEY = "f3b9c0e27a4d4b1e9c8a7f6e5d4c3b2a1908f7e6d5c4b3a2"
        ENCRYPTION_KEYS = None
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'prod.sqlite'}"

    with pytest.raises(RuntimeError, match="ENCRYPTION_KEYS"):
        create_app(Production)


def test_development_derives_a_stable_key_from_secret_key():
    one, again, other = derive_key("a" * 64), derive_key("a" * 64), derive_key("b" * 64)
    assert one == again and one[1] != other[1] and one[0] != other[0]
    assert len(one[1]) == 32 and one[0].startswith("sk-")


# --- legacy plain values ------------------------------------------------------------------------

def test_legacy_plain_values_are_read_as_they_are(app):
    world = write_everything_through_the_app(app)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE feedback SET body = 'Plain words from before'"))
        conn.execute(sa.text("UPDATE reflections SET answers = :a"),
                     {"a": json.dumps(["Plain answer", "Ünïcødé"])})
    db.session.expire_all()
    reflection = db.session.get(Reflection, world["reflection"].id)
    assert reflection.answers == ["Plain answer", "Ünïcødé"]
    assert [f.body for f in reflection.feedback] == ["Plain words from before"]
    page = world["ruth_b"].get(f"/reflections/{reflection.id}").get_data(as_text=True)
    assert "Plain words from before" in page and "Plain answer" in page


# --- flask rotate-key ---------------------------------------------------------------------------

def test_rotate_key_re_encrypts_everything_under_the_new_key(app):
    old, new = new_key("old"), new_key("new")
    app.config["ENCRYPTION_KEYS"] = old
    world = write_everything_through_the_app(app)
    with db.engine.begin() as conn:  # and one legacy plain value
        conn.execute(sa.text("UPDATE agenda_items SET body = 'legacy agenda words'"))
    before = {(t, c): raw_values(t, c) for t, c in LISTED}
    assert all(v.startswith("enc:v1:old:") for (t, c), vs in before.items() for v in vs
               if (t, c) != ("agenda_items", "body"))

    app.config["ENCRYPTION_KEYS"] = f"{new},{old}"
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["rotate-key", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert {(t, c): raw_values(t, c) for t, c in LISTED} == before  # a dry run changes nothing
    total = sum(len(v) for v in before.values())
    assert f"{total} values would be re-encrypted" in dry.output

    result = runner.invoke(args=["rotate-key", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "session_note_revisions.body: 2/" in result.output  # progress, batch by batch
    assert f"Done: {total} values re-encrypted, 0 were already current" in result.output
    for (table, column), values in before.items():
        after = raw_values(table, column)
        assert len(after) == len(values) > 0
        assert all(v.startswith("enc:v1:new:") for v in after), (table, column)
    assert MARK not in result.output and "legacy agenda words" not in result.output

    again = runner.invoke(args=["rotate-key"])
    assert again.exit_code == 0 and f"Done: 0 values re-encrypted, {total} were" in again.output

    # The old key can go now: everything reads with the new key alone.
    app.config["ENCRYPTION_KEYS"] = new
    page = world["ruth_b"].get(f"/reflections/{world['reflection'].id}").get_data(as_text=True)
    for name in ("answer0", "addendum", "feedback", "annotation"):
        assert sentinel(name) in page
    db.session.expire_all()
    assert db.session.scalars(sa.select(AgendaItem.body).order_by(AgendaItem.id)).all() == \
        ["legacy agenda words"]
    history = world["ruth_b"].get(f"/sessions/{world['solo'].id}/history").get_data(as_text=True)
    assert sentinel("shared1") in history and sentinel("clinical1") in history
    assert_task_notes_read_back(world)


def test_rotate_key_stops_loudly_when_an_old_key_is_missing(app):
    old, new = new_key("old"), new_key("new")
    app.config["ENCRYPTION_KEYS"] = old
    _agenda_item("needs the old key")
    before = raw_values("agenda_items", "body")
    app.config["ENCRYPTION_KEYS"] = new  # the old key dropped too early
    for args in (["rotate-key", "--dry-run"], ["rotate-key"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0
        assert "'old'" in result.output and "not in ENCRYPTION_KEYS" in result.output
    assert raw_values("agenda_items", "body") == before  # nothing was overwritten


# --- migrations 0006 and 0010 --------------------------------------------------------------------

@pytest.fixture
def scratch_database_url(tmp_path):
    """An empty database of the suite's kind: a SQLite file, or a PostgreSQL schema of its own."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    url = normalise_database_url(url)
    schema = "cg_migrations_" + secrets.token_hex(4)
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield sa.engine.make_url(url).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _insert(conn, table_name: str, rows: list[dict], ids: bool = True) -> list[int]:
    """Insert rows with plain SQL into the table as the database has it now (no models: these
    rows are written at an older revision); NOT NULL columns not given get a neutral value.
    With ids=False the rows go in as one batch and no ids come back."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    now = datetime.now(timezone.utc)
    fillers = [(sa.DateTime, now), (sa.Date, now.date()), (sa.Boolean, False), (sa.JSON, []),
               (sa.Integer, 1), (sa.String, "x")]
    filled = []
    for row in rows:
        values = dict(row)
        for column in table.columns:
            if column.name in values or column.primary_key or column.nullable \
                    or column.server_default is not None:
                continue
            values[column.name] = next(v for kind, v in fillers if isinstance(column.type, kind))
        filled.append(values)
    if not ids:
        conn.execute(table.insert(), filled)
        return []
    return [conn.execute(table.insert().values(values)).inserted_primary_key[0]
            for values in filled]


def _populate_at_0005(agenda_items: int) -> dict:
    """A small practice written as plain text at 0005; returns {(table, column): [values by id]}."""
    expected: dict = {key: [] for key in LISTED}

    def text(table, column, name):
        expected[(table, column)].append(sentinel(name))
        return sentinel(name)

    with db.engine.begin() as conn:
        [ruth] = _insert(conn, "users", [dict(email="ruth@example.org", role="therapist")])
        [maria] = _insert(conn, "users", [dict(email="maria@example.org", role="client",
                                               therapist_id=ruth)])
        for n in range(3):
            [task] = _insert(conn, "assignments", [dict(
                client_id=maria, therapist_id=ruth, status="submitted", prompts=["One?", "Two?"],
                note=text("assignments", "note", f"task-note{n}"))])
            answers = [sentinel(f"answer{n}"), f"{n} ✓ \"quoted\" \\ {{}}"]
            expected[("reflections", "answers")].append(answers)
            [reflection] = _insert(conn, "reflections", [dict(
                assignment_id=task, author_id=maria, answers=answers, status="submitted")])
            _insert(conn, "addenda", [dict(reflection_id=reflection,
                                           body=text("addenda", "body", f"addendum{n}"))])
            _insert(conn, "feedback", [dict(reflection_id=reflection, therapist_id=ruth,
                                            body=text("feedback", "body", f"feedback{n}"))])
            _insert(conn, "private_annotations", [dict(
                reflection_id=reflection, therapist_id=ruth,
                body=text("private_annotations", "body", f"annotation{n}"))])
        [session] = _insert(conn, "therapy_sessions", [dict(therapist_id=ruth, client_id=maria)])
        [note] = _insert(conn, "session_notes", [dict(
            session_id=session, kind="shared", author_id=ruth, visibility="client", version=2,
            body=text("session_notes", "body", "shared"))])
        _insert(conn, "session_note_revisions", [dict(
            note_id=note, version=1, visibility="client",
            body=text("session_note_revisions", "body", "shared-old"))])
        [clinical] = _insert(conn, "clinical_notes", [dict(
            session_id=session, therapist_id=ruth, version=2,
            body=text("clinical_notes", "body", "clinical"))])
        _insert(conn, "clinical_note_revisions", [dict(
            note_id=clinical, version=1,
            body=text("clinical_note_revisions", "body", "clinical-old"))])
        _insert(conn, "session_comments", [dict(
            session_id=session, author_id=maria, body=text("session_comments", "body", "comment"))])
        _insert(conn, "agenda_items", [dict(client_id=maria, therapist_id=ruth,
                                            body=text("agenda_items", "body", f"agenda{n}"))
                                       for n in range(agenda_items)])
    return expected


def _row_counts() -> dict:
    inspector = sa.inspect(db.engine)
    with db.engine.connect() as conn:
        return {t: conn.scalar(sa.text(f'SELECT COUNT(*) FROM "{t}"'))
                for t in inspector.get_table_names() if t != "alembic_version"}


def _read_through_models() -> dict:
    """Each encrypted column's values in id order, read through the models' column types."""
    db.session.expire_all()
    values = {}
    inspector = sa.inspect(db.engine)
    present = {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}
    for column in encrypted_columns(db.metadata):
        table = column.table
        if column.name not in present.get(table.name, ()):
            continue  # a table or column a later revision creates (the walk may stand before it)
        found = list(db.session.scalars(sa.select(column).order_by(table.c.id)))
        if any(value is not None for value in found) or (table.name, column.name) in LISTED:
            values[(table.name, column.name)] = found
    db.session.remove()  # end the read transaction: PostgreSQL's ALTER TABLE would wait on it
    return values


def _reflection_shape() -> tuple:
    inspector = sa.inspect(db.engine)
    return ({c["name"] for c in inspector.get_check_constraints("reflections")},
            {i["name"] for i in inspector.get_indexes("reflections")},
            {(fk["constrained_columns"][0], fk["referred_table"])
             for fk in inspector.get_foreign_keys("reflections")},
            {(fk["constrained_columns"][0], fk["referred_table"])
             for t in ("addenda", "feedback", "private_annotations")
             for fk in inspector.get_foreign_keys(t)})


def _scratch_app(url: str, configured_keys: bool):
    """An app on a scratch database, with two configured keys or the key derived from
    SECRET_KEY, and the id of the key that new writes use."""
    keys = f"{new_key('m2')},{new_key('m1')}" if configured_keys else None

    class ScratchConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url
        ENCRYPTION_KEYS = keys

    return create_app(ScratchConfig), ("m2" if configured_keys else derive_key(ScratchConfig.SECRET_KEY)[0])


@pytest.mark.parametrize("configured_keys", [False, True], ids=["derived-key", "configured-keys"])
def test_migration_0006_keeps_every_row_through_upgrade_downgrade_upgrade(scratch_database_url,
                                                                          configured_keys):
    from flask_migrate import downgrade, upgrade

    from tests.test_schema import _diff

    scratch, expected_id = _scratch_app(scratch_database_url, configured_keys)
    with scratch.app_context():
        try:
            upgrade(revision="0005")
            expected = _populate_at_0005(agenda_items=1201)  # more than one batch of 500
            counts, shape = _row_counts(), _reflection_shape()
            assert counts["addenda"] == counts["feedback"] == counts["private_annotations"] == 3
            assert counts["agenda_items"] == 1201

            for _ in range(2):
                upgrade(revision="0006")
                db.session.remove()
                assert _row_counts() == counts  # nothing cascaded away with the rebuilt table
                assert _reflection_shape() == shape
                for table, column in LISTED_BY_0006:
                    raw = raw_values(table, column)
                    assert all(v.startswith(f"enc:v1:{expected_id}:") for v in raw), (table, column)
                    assert not any(MARK in v or "quoted" in v for v in raw), (table, column)
                # Task notes are still plain at 0006 (0010 encrypts them) and read as they are.
                assert raw_values("assignments", "note") == expected[("assignments", "note")]
                assert _read_through_models() == expected

                downgrade(revision="0005")
                db.session.remove()
                assert _row_counts() == counts
                assert _reflection_shape() == shape
                answers_type = {c["name"]: c["type"] for c in
                                sa.inspect(db.engine).get_columns("reflections")}["answers"]
                assert isinstance(answers_type, sa.JSON)
                for (table, column), values in expected.items():
                    raw = raw_values(table, column)
                    if column == "answers":  # psycopg parses JSON itself; SQLite gives text
                        raw = [v if isinstance(v, list) else json.loads(v) for v in raw]
                    assert raw == values, (table, column)

            upgrade()
            db.session.remove()
            assert _diff(db.engine) == []
            assert _row_counts()["agenda_items"] == 1201
            for table, column in LISTED:
                raw = raw_values(table, column)
                assert all(v.startswith(f"enc:v1:{expected_id}:") for v in raw), (table, column)
            assert _read_through_models() == expected
            if db.engine.dialect.name == "sqlite":
                with db.engine.connect() as conn:  # the pooled connection got its foreign keys back
                    assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        finally:
            db.session.remove()
            db.engine.dispose()


def _populate_at_0009(tasks: int) -> list[str]:
    """Tasks with the therapist's notes, written as plain text at 0009: one client's own tasks
    (more than one of 0010's batches of 500, some without a note) and a pair exercise's two
    tasks; returns the notes in task id order."""
    with db.engine.begin() as conn:
        [ruth] = _insert(conn, "users", [dict(email="ruth@example.org", role="therapist")])
        maria, elena = _insert(conn, "users", [
            dict(email=f"{name}@example.org", role="client", therapist_id=ruth)
            for name in ("maria", "elena")])
        notes = [sentinel(f"note{n}") if n % 4 else "" for n in range(tasks)]
        _insert(conn, "assignments", [dict(client_id=maria, therapist_id=ruth, status="open",
                                           note=note) for note in notes], ids=False)
        [pair] = _insert(conn, "pairs", [dict(therapist_id=ruth)])
        _insert(conn, "pair_members", [dict(pair_id=pair, user_id=maria, label="mother"),
                                       dict(pair_id=pair, user_id=elena, label="daughter")])
        [pair_exercise] = _insert(conn, "pair_exercises", [dict(pair_id=pair, therapist_id=ruth)])
        pair_note = sentinel("pair-note") + "\n\"quoted\" \\ {}"
        _insert(conn, "assignments", [dict(client_id=member, therapist_id=ruth, status="open",
                                           note=pair_note, pair_exercise_id=pair_exercise)
                                      for member in (maria, elena)])
    return notes + [pair_note, pair_note]


@pytest.mark.parametrize("configured_keys", [False, True], ids=["derived-key", "configured-keys"])
def test_migration_0010_encrypts_task_notes_through_upgrade_downgrade_upgrade(
        scratch_database_url, configured_keys):
    from flask_migrate import downgrade, upgrade

    from tests.test_schema import _diff

    scratch, expected_id = _scratch_app(scratch_database_url, configured_keys)
    with scratch.app_context():
        try:
            upgrade(revision="0009")
            notes = _populate_at_0009(tasks=1001)  # more than two batches of 500
            counts = _row_counts()
            assert raw_values("assignments", "note") == notes

            for _ in range(2):
                upgrade(revision="0010")
                db.session.remove()
                assert _row_counts() == counts
                raw = raw_values("assignments", "note")
                assert len(raw) == len(notes)
                assert all(v.startswith(f"enc:v1:{expected_id}:") for v in raw)  # "" too
                assert not any(MARK in v or "quoted" in v for v in raw)
                db.session.expire_all()
                assert list(db.session.scalars(
                    sa.select(Assignment.note).order_by(Assignment.id))) == notes
                db.session.remove()

                downgrade(revision="0009")
                db.session.remove()
                assert _row_counts() == counts
                assert raw_values("assignments", "note") == notes  # plain text again

            upgrade()
            db.session.remove()
            assert _diff(db.engine) == []
            assert all(v.startswith(f"enc:v1:{expected_id}:")
                       for v in raw_values("assignments", "note"))
            assert _read_through_models()[("assignments", "note")] == notes
        finally:
            db.session.remove()
            db.engine.dispose()
