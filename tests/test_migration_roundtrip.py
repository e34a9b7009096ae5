"""The migrations go down and up again, one revision at a time, on a populated database without
losing a row: on SQLite (where Alembic rebuilds tables in batch mode) and on PostgreSQL.

Each test works on a scratch database of its own (a temporary SQLite file, or a PostgreSQL
database created next to TEST_DATABASE_URL's and dropped afterwards), never the suite's.
The revisions are read from the Alembic script directory, so a new revision is walked too.
"""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from app import create_app
from app.core.crypto import EncryptedJSON, decrypt, encrypted_columns, is_encrypted
from app.extensions import db
from config import TestingConfig, normalise_database_url
from tests.test_schema import _diff

# Tables the populated walk cannot fill, with the reason. Empty on purpose: a table a future
# revision adds must get rows in populate(), or a line here saying why it cannot.
UNFILLABLE_TABLES: dict[str, str] = {}

# What a revision's downgrade may remove, decided revision by revision.
#
# Always allowed, for every revision: the tables and the columns that its own upgrade created
# (they cannot outlive it). The walk proves that this is all that went: upgrading the revision
# again must bring back exactly the same tables and columns, and every row the downgrade kept.
# For 0001-0010 that is: 0010 nothing (it decrypts assignments.note, compared as plaintext);
# 0009 only indexes; 0008 assignments' and reflections' deleted_at and deleted_by_id (rows
# in the bin become visible again, none is lost); 0007 recovery_codes and users.totp_secret, totp_enabled_at,
# totp_last_step, failed_logins, locked_until; 0006 nothing (it decrypts every encrypted column
# and turns reflections.answers back into JSON, which the comparison sees through: values are
# compared as plaintext); 0005 notifications, reminders_sent, users.email_notifications; 0004 the
# session tables and agenda_items; 0003 the pair tables, assignments.pair_exercise_id,
# exercises.member_prompts, reflections.shared_at; 0002 the homework tables.
#
# Rows of tables that stay, and values of columns that stay, may never go or change. If a
# revision ever has to remove rows of a table it keeps on the way down (say, a downgrade that
# cannot represent some rows in the older schema), list the table here with the reason:
# {revision: {table: reason}}. None does today.
DATA_REMOVED_ON_PURPOSE: dict[str, dict[str, str]] = {}

# Data-only revisions rewrite some values on purpose, both ways: {revision: {table: (columns,
# which rows)}}. Only that revision's own steps compare those rows without those columns; every
# other row and column is still compared in full (a therapist's own exercise keeps her text).
VALUES_REWRITTEN_ON_PURPOSE: dict[str, dict] = {
    # 0018 writes the built-in exercises' descriptions and lengths; its downgrade empties them.
    "0018": {"exercises": (("description", "typical_minutes"), lambda row: bool(row["built_in"]))},
}

AGENDA_ITEMS = 520  # more than one of 0006's batches of 500 rows


# --- a scratch database and an app on it ----------------------------------------------------

@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of the suite's kind: a SQLite file, or a PostgreSQL database named
    after TEST_DATABASE_URL's with a random suffix, created here and dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'roundtrip.sqlite'}"
        return
    url = sa.engine.make_url(normalise_database_url(url))
    name = f"{url.database}_rt_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_app(url: str):
    """The app on the scratch database, with its context pushed."""

    class ScratchConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url

    application = create_app(ScratchConfig)
    with application.app_context():
        try:
            yield application
        finally:
            db.session.remove()
            db.engine.dispose()


def revisions() -> list[str]:
    """Every revision, from the first to the head (one line of history, no branches)."""
    config = current_app.extensions["migrate"].migrate.get_config(
        current_app.extensions["migrate"].directory)
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# The walk drops data on purpose (every revision, down to base): migrations/env.py asks before a
# downgrade that drops data and refuses one to base, unless given this Alembic x-argument.
ALLOW_DATA_LOSS = ["allow-data-loss=yes"]


def step(direction: str) -> str | None:
    """One revision up ("+1") or down ("-1"); returns the revision the database is then at."""
    db.session.remove()  # no open read transaction for PostgreSQL's ALTER TABLE to wait on
    if direction == "-1":
        downgrade(revision="-1", x_arg=ALLOW_DATA_LOSS)
    else:
        upgrade(revision="+1")
    return current_revision()


# --- reading a whole database -----------------------------------------------------------------

def read_all() -> dict[str, dict]:
    """{table: {"columns": [...], "rows": {primary key: {column: value}}}} for every table the
    database has now, read with plain SQL. Encrypted values are compared as their plaintext (a
    fresh nonce makes each encryption differ), and reflections.answers as the JSON it holds,
    whether the column is JSON (before 0006) or encrypted text (after)."""
    db.session.remove()
    json_columns = {(c.table.name, c.name) for c in encrypted_columns(db.metadata)
                    if isinstance(c.type, EncryptedJSON)}
    # One catalogue query for every table's primary key (one per table is slow on PostgreSQL).
    keys = {table: pk["constrained_columns"]
            for (_, table), pk in sa.inspect(db.engine).get_multi_pk_constraint().items()}
    content = {}
    with db.engine.connect() as conn:
        for table, key in sorted(keys.items()):
            if table == "alembic_version":
                continue
            assert key, f"{table} has no primary key to compare rows by"
            result = conn.exec_driver_sql(f'SELECT * FROM "{table}"')
            columns = list(result.keys())
            rows = {}
            for raw in result:
                row = {name: _comparable(value, (table, name) in json_columns)
                       for name, value in zip(columns, raw, strict=False)}
                rows[tuple(row[k] for k in key)] = row
            content[table] = {"columns": columns, "rows": rows}
    return content


def _comparable(value, holds_json: bool):
    if isinstance(value, str) and is_encrypted(value):
        value = decrypt(value)
    if holds_json and isinstance(value, str):
        value = json.loads(value)
    return value


def shape(content: dict) -> dict[str, set[str]]:
    return {table: set(data["columns"]) for table, data in content.items()}


def losses(before: dict, after: dict, exempt: dict | None = None, rewritten: dict | None = None) -> list[str]:
    """What `after` lost, changed or gained of `before`'s rows, in every table both have,
    compared on the columns both have (less the `rewritten` columns of the rows they name:
    VALUES_REWRITTEN_ON_PURPOSE)."""
    problems = []
    for table in sorted(before.keys() & after.keys()):
        if exempt and table in exempt:
            continue
        columns = [c for c in before[table]["columns"] if c in after[table]["columns"]]
        skipped, which = (rewritten or {}).get(table, ((), None))

        def values(row, columns=columns, skipped=skipped, which=which):
            left_out = skipped if which is not None and which(row) else ()
            return tuple(row[c] if c not in left_out else None for c in columns)

        old = {k: values(r) for k, r in before[table]["rows"].items()}
        new = {k: values(r) for k, r in after[table]["rows"].items()}
        gone, added = sorted(old.keys() - new.keys()), sorted(new.keys() - old.keys())
        if gone:
            problems.append(f"{table}: {len(gone)} of {len(old)} rows gone, keys {gone[:5]}")
        if added:
            problems.append(f"{table}: {len(added)} rows appeared, keys {added[:5]}")
        for k in sorted(k for k in old.keys() & new.keys() if old[k] != new[k])[:3]:
            changed = {c: (a, b) for c, a, b in zip(columns, old[k], new[k], strict=False) if a != b}
            problems.append(f"{table} {k}: changed {changed}")
    return problems


# --- a practice with rows in every table -------------------------------------------------------

def populate() -> None:
    """The shared world, plus what it lacks: feedback, annotations, addenda, edited notes with
    revisions, comments, login sessions, recovery codes, a reminder, awkward text,
    enough agenda items to need more than one of 0006's batches, and a key check value."""
    from datetime import time

    from app.accounts.login_sessions import start_session
    from app.accounts.two_factor import regenerate_recovery_codes
    from app.homework.reflections import add_addendum
    from app.homework.review import annotate, give_feedback
    from app.models import AgendaItem, ReminderSent, utcnow
    from app.therapy_sessions import services as sessions
    from tests.builders_homework import assign, submit
    from tests.builders_sessions import clinical_note, member_note, shared_note
    from tests.conftest import PASSWORD
    from tests.world import build_world

    w = build_world()
    t, c, p = w["therapist"], w["client"], w["partner"]
    awkward = 'Ünïcode ✓, "quotes", \'apostrophes\', back\\slash, {braces}, 100% and\nnew lines'
    give_feedback(t, w["reflection"], f"Feedback: {awkward}", mark_reviewed=True)
    give_feedback(t, w["shared_reflection"], "Feedback on the shared one.", mark_reviewed=False)
    annotate(t, w["reflection"], f"PRIVATE-ANNOTATION {awkward}")
    add_addendum(c, w["reflection"], f"An addendum: {awkward}", once_key="roundtrip-once-key-1")  # 0015

    second = submit(p, assign(t, p, due=2, note=f"A note from the therapist: {awkward}"), [awkward])
    give_feedback(t, second, "Thank you.", mark_reviewed=True)

    session = sessions.record_session(t, c, w["session"].starts_at.date() + timedelta(days=7),
                                      time(9, 30), 45)
    shared_note(t, session, "Shared, first.", f"Shared, edited: {awkward}")
    clinical_note(t, session, "Clinical, first.", "CLINICAL, edited.")
    member_note(p, w["pair_session"], "Partner's note.", "pair", ("Partner's note, edited.", "therapist"))
    sessions.add_comment(c, w["session"], f"A comment: {awkward}")
    sessions.tick_agenda_item(t, w["agenda_item"])

    with current_app.test_request_context(headers={"User-Agent": "Roundtrip/1.0"}):
        for person in (t, c, p):
            start_session(person)
        db.session.commit()
    regenerate_recovery_codes(t, PASSWORD)

    db.session.add(ReminderSent(assignment_id=w["open_task"].id, kind="due"))
    now = utcnow()
    db.session.add_all(AgendaItem(client_id=c.id, therapist_id=t.id, body=f"Item {n} {awkward}",
                                  done_at=now if n % 3 == 0 else None)
                       for n in range(AGENDA_ITEMS))
    c.email_notifications = True
    w["same_therapist_client"].closed_at = now
    # 0016: a message thread with a reply to feedback and its read state, a push device, quiet
    # hours, the digest and a therapist's message hours (the outbox holds the emails queued above).
    from app.models import Message, MessageRead, MessageThread, PushSubscription
    thread = MessageThread(therapist_id=t.id, client_id=c.id, last_message_at=now)
    db.session.add(thread)
    db.session.flush()
    message = Message(thread_id=thread.id, author_id=c.id, body=f"A message: {awkward}",
                      reflection_id=w["reflection"].id)
    db.session.add(message)
    db.session.flush()
    db.session.add(MessageRead(thread_id=thread.id, user_id=t.id, read_up_to=message.id))
    db.session.add(PushSubscription(user_id=c.id, endpoint="https://fcm.googleapis.com/fcm/send/rt-1",
                                    p256dh="B" + "A" * 86, auth="A" * 22, device="Firefox on Linux"))
    c.quiet_from, c.quiet_until, c.email_digest = time(21), time(7, 30), True
    t.message_hours = f"Weekday mornings. {awkward}"
    # 0017: a session scheduled ahead with its place, a cancelled one, a calendar feed, an own
    # note template, a clinical note written on a template, a note draft, a described exercise.
    from app.models import ClinicalNote, NoteDraft, NoteTemplate, TherapySession
    ahead = TherapySession(therapist_id=t.id, client_id=c.id, starts_at=now + timedelta(days=9),
                           duration_minutes=50, location=f"https://video.example/room {awkward}")
    cancelled = TherapySession(therapist_id=t.id, client_id=c.id, starts_at=now + timedelta(days=16),
                               duration_minutes=50, cancelled_at=now)
    db.session.add_all([ahead, cancelled])
    db.session.add(NoteTemplate(therapist_id=t.id, name="Brief", sections=["Theme", f"Next {awkward}"]))
    written = db.session.scalar(sa.select(ClinicalNote).where(ClinicalNote.session_id == session.id))
    written.template_name, written.sections = "SOAP", [["Subjective", awkward], ["Objective", "calm"]]
    db.session.flush()
    db.session.add(NoteDraft(session_id=ahead.id, author_id=t.id, kind="shared",
                             body=f"Half-typed {awkward}", base_version=None))
    t.calendar_token_hash, t.calendar_shows_names = "a" * 64, True
    w["own_exercise"].description, w["own_exercise"].typical_minutes = f"What it is for. {awkward}", 20
    db.session.commit()
    db.session.remove()
    # The key check value of the configured key, as a server's start writes it (0014).
    from app.core.crypto import keyring
    from app.core.key_check import check_keys
    assert check_keys(db.engine, db.metadata, keyring(), write=True).written


# --- the tests -----------------------------------------------------------------------------------

def test_every_revision_goes_down_and_up_again_without_losing_a_row(scratch_url):
    with scratch_app(scratch_url):
        history = revisions()
        upgrade()
        populate()
        snapshot = read_all()

        assert set(snapshot) == set(db.metadata.tables)
        empty = sorted(t for t, data in snapshot.items()
                       if not data["rows"] and t not in UNFILLABLE_TABLES)
        assert empty == [], f"populate() leaves these tables empty: {empty}"
        assert len(snapshot["agenda_items"]["rows"]) > AGENDA_ITEMS

        # Down, one revision at a time, to the first. At each level the revision is also taken
        # up again and down again: so every upgrade runs on a database full of the rows of the
        # level below it, and every downgrade on one full at its own level.
        exempt: dict[str, str] = {}  # tables some downgrade removed rows of, on purpose
        above = bottom = snapshot
        for revision, below in zip(reversed(history[1:]), reversed(history[:-1]), strict=False):
            on_purpose = DATA_REMOVED_ON_PURPOSE.get(revision, {})
            rewritten = VALUES_REWRITTEN_ON_PURPOSE.get(revision)
            exempt.update(on_purpose)
            assert step("-1") == below
            down = read_all()
            assert losses(above, down, on_purpose, rewritten) == [], f"downgrading {revision} lost data"
            assert set(down) <= set(above), f"downgrading {revision} created tables"

            assert step("+1") == revision
            again = read_all()
            assert shape(again) == shape(above), \
                f"{revision}'s downgrade removed tables or columns its upgrade does not bring back"
            assert losses(down, again, rewritten=rewritten) == [], f"upgrading {below} -> {revision} lost data"

            assert step("-1") == below
            down_again = read_all()
            assert shape(down_again) == shape(down)
            assert losses(down, down_again) == [], f"downgrading {revision} a second time lost data"
            above = bottom = down_again

        # Up again, one revision at a time, to the head.
        before = bottom
        for revision in history[1:]:
            assert step("+1") == revision
            after = read_all()
            assert losses(before, after, rewritten=VALUES_REWRITTEN_ON_PURPOSE.get(revision)) == [], \
                f"upgrading to {revision} lost data"
            before = after

        final = before
        assert shape(final) == shape(snapshot)
        assert _diff(db.engine) == []
        # Every table and column the walk kept holds exactly the snapshot's rows (same keys,
        # same values); the tables and columns revisions created were dropped on the way down.
        kept = {t: {"columns": bottom[t]["columns"], "rows": snapshot[t]["rows"]} for t in bottom}
        assert losses(kept, final, exempt) == []
        for table in bottom:
            if table not in exempt:
                assert len(final[table]["rows"]) == len(snapshot[table]["rows"]), table
        if db.engine.dialect.name == "sqlite":  # the revisions that switch foreign keys off for a
            with db.engine.connect() as conn:  # table rebuild switched them back on
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _schema() -> dict:
    """Tables, columns, keys, indexes and constraints as the database reports them."""
    inspector = sa.inspect(db.engine)
    # The get_multi_* calls read all tables at once (one query each on PostgreSQL).
    columns, pks, fks, indexes, uniques, checks = (
        {table: found for (_, table), found in read().items()}
        for read in (inspector.get_multi_columns, inspector.get_multi_pk_constraint,
                     inspector.get_multi_foreign_keys, inspector.get_multi_indexes,
                     inspector.get_multi_unique_constraints, inspector.get_multi_check_constraints))
    return {
        table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in columns[table]],
            "pk": pks[table]["constrained_columns"],
            "fks": sorted((fk["name"] or "", tuple(fk["constrained_columns"]), fk["referred_table"],
                           tuple(fk["referred_columns"]),
                           (fk.get("options") or {}).get("ondelete") or "NO ACTION")
                          for fk in fks[table]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in indexes[table]),
            "unique": sorted((u["name"] or "", tuple(u["column_names"])) for u in uniques[table]),
            "checks": sorted(c["name"] or "" for c in checks[table]),
        }
        for table in sorted(columns)
    }


def test_an_empty_database_goes_to_base_and_back_with_the_same_schema_at_every_level(scratch_url):
    with scratch_app(scratch_url):
        history = revisions()
        upgrade()
        assert _diff(db.engine) == []
        head_rows = read_all()

        on_the_way_down = {history[-1]: _schema()}
        for below in reversed([None] + history[:-1]):
            assert step("-1") == below
            on_the_way_down[below] = _schema()
        assert list(on_the_way_down[None]) == ["alembic_version"]

        for revision in history:
            assert step("+1") == revision
            assert _schema() == on_the_way_down[revision], \
                f"at {revision}, the schema built going up differs from the one left going down"
        assert _diff(db.engine) == []
        # Only what the migrations write themselves (the built-in library): same rows, new ids.
        again = read_all()
        assert {t: len(d["rows"]) for t, d in again.items()} == \
            {t: len(d["rows"]) for t, d in head_rows.items()}
        assert len(again["exercises"]["rows"]) >= 8
