"""`flask backup` and `flask restore`: a drill under concurrent writes, the refusals, and the
confirmation. Every test works on scratch databases of its own (SQLite files, or PostgreSQL
databases named after TEST_DATABASE_URL's), never on the suite's shared database."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import AuditEvent, Reflection, User, utcnow
from app.notifications.deliverer import wait_until_delivered
from app.ops import backup, backup_postgresql, backup_record
from config import TestingConfig, normalise_database_url

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKEND = "postgresql" if PG_URL else "sqlite"
MAGIC = {"sqlite": b"SQLite format 3\x00", "postgresql": b"PGDMP"}


# --- scratch databases ------------------------------------------------------------------------

class Scratch:
    """Scratch databases for this module, all dropped at the end."""

    apps: ClassVar[list] = []  # every app made here, so that run() can close their pools

    def __init__(self, folder: Path):
        self.folder = folder
        self.names = []
        if PG_URL:
            base = sa.make_url(normalise_database_url(PG_URL))
            self.base = base
            self.admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def empty(self, name: str, template: str | None = None) -> str:
        """The URL of a new database: empty, or a copy of `template`'s."""
        if not PG_URL:
            path = self.folder / f"{name}.sqlite"
            if template:
                path.write_bytes((self.folder / f"{template}.sqlite").read_bytes())
            return f"sqlite:///{path}"
        full = f"{self.base.database}_bk_{name}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'))
            clause = f' TEMPLATE "{self.base.database}_bk_{template}"' if template else ""
            conn.execute(sa.text(f'CREATE DATABASE "{full}"{clause}'))
        self.names.append(full)
        return self.base.set(database=full).render_as_string(hide_password=False)

    def app(self, url: str):
        class ScratchConfig(TestingConfig):
            SQLALCHEMY_DATABASE_URI = url

        application = create_app(ScratchConfig)
        self.apps.append(application)
        return application

    def close(self) -> None:
        for application in self.apps:
            with application.app_context():
                db.session.remove()
                db.engine.dispose()
        if PG_URL:
            with self.admin.connect() as conn:
                for name in self.names:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.admin.dispose()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A migrated, populated template database (the world of tests/world.py plus 400 audit
    rows): the drill's source is a copy of it, and then it becomes `work`, which the other tests
    share (each takes its own backup first). Few databases: each DROP DATABASE waits for a
    checkpoint, slow on a busy server."""
    from flask_migrate import upgrade

    from tests.world import build_world

    helper = Scratch(tmp_path_factory.mktemp("backup"))
    try:
        template = helper.app(helper.empty("tpl"))
        with template.app_context():
            upgrade()
            world = build_world()
            helper.reflection = (world["reflection"].id, world["reflection"].answers)
            db.session.execute(sa.insert(AuditEvent), [{"action": "filler", "at": utcnow()}] * 400)
            db.session.commit()
            wait_until_delivered()  # the world's invitation email is sent on one of its connections
            db.session.remove()
            db.engine.dispose()  # nobody may be connected to a PostgreSQL template
        helper.drill_source = helper.empty("drill_src", template="tpl")
        helper.work = template
        yield helper
    finally:
        helper.close()


def run(application, *args, input=None):
    """The flask command, with every scratch app's pool closed first (restore refuses to run
    while other connections are open, and ours would count on PostgreSQL). The outbox's thread
    finishes first: an email queued by a scratch app (the world's invitation) is sent on one of
    that app's connections, which a dispose while it is checked out would leave open."""
    wait_until_delivered()
    for each in Scratch.apps:
        with each.app_context():
            db.session.remove()
            db.engine.dispose()
    return application.test_cli_runner().invoke(args=[str(a) for a in args], input=input)


def data_of(path: Path) -> bytes:
    """The database's copy inside a backup file: after its header line and its manifest line."""
    header, manifest, data = path.read_bytes().split(b"\n", 2)
    assert header == b"COMMON-GROUND-BACKUP 2" and json.loads(manifest)["backend"] == BACKEND
    return data


def counts(application) -> dict[str, int]:
    with application.app_context(), db.engine.connect() as conn:
        return backup_record.row_counts(conn)


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(__file__).resolve().parent.parent / "migrations")).get_current_head()


_markers = iter(range(1, 1000))


def add_marker(application) -> str:
    """A therapist added after the backup was taken; returns her (unique) name."""
    name = f"Added After Backup {next(_markers)}"
    with application.app_context():
        db.session.add(User(email=f"after.backup.{name.split()[-1]}@example.org", name=name, role="therapist",
                            password_hash="x"))
        db.session.commit()
        db.session.remove()
    return name


def marker_present(application, name: str) -> bool:
    with application.app_context():
        found = db.session.scalar(sa.select(sa.func.count(User.id)).where(User.name == name))
        db.session.remove()
        db.engine.dispose()
        return found == 1


class Writer(threading.Thread):
    """Inserts audit rows, one transaction each, until stopped."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url, connect_args={"timeout": 5} if url.startswith("sqlite") else {})
        self.written = 0
        self.error = None
        self._stop_event = threading.Event()

    def run(self):
        # At most 20 s of writing: a backup that restarts on every write (no snapshot) then ends,
        # and the test fails instead of hanging.
        deadline = time.monotonic() + 20
        try:
            while not self._stop_event.is_set() and time.monotonic() < deadline:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(AuditEvent.__table__).values(action="drill-write", at=utcnow()))
                self.written += 1
                time.sleep(0.001)
        except Exception as exc:  # reported by the test
            self.error = exc
        finally:
            self.engine.dispose()

    def wait_for(self, written: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.written < written and self.error is None:
            assert time.monotonic() < deadline, "the writer stalled"
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
        assert self.error is None, self.error


def orphans(conn) -> int:
    """Rows whose foreign key points at nothing, over every foreign key of the schema."""
    total = 0
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table.alias()  # an alias: some keys point at their own table
            join = sa.and_(*(element.parent == parent.c[element.column.name] for element in fk.elements))
            missing = sa.and_(*(element.parent.isnot(None) for element in fk.elements),
                              parent.c[fk.elements[0].column.name].is_(None))
            total += conn.execute(sa.select(sa.func.count()).select_from(table.outerjoin(parent, join))
                                  .where(missing)).scalar_one()
    return total


# --- the drill --------------------------------------------------------------------------------

def test_backup_while_writing_then_restore_elsewhere(scratch, tmp_path, monkeypatch):
    source = scratch.app(scratch.drill_source)
    before = counts(source)
    assert before["audit_events"] >= 400 and before["reflections"] == 3

    # Each progress step is slowed a little, so the writer's commits land while the copy runs.
    update = backup.Progress.update
    monkeypatch.setattr(backup.Progress, "update",
                        lambda self, *args, **kw: (time.sleep(0.01), update(self, *args, **kw))[1])
    writer = Writer(source.config["SQLALCHEMY_DATABASE_URI"])
    writer.start()
    try:
        writer.wait_for(5)
        at_start = writer.written
        path = tmp_path / "drill.backup"
        result = run(source, "backup", path, "--progress", "--step-pages", 2)
        at_end = writer.written
        writer.wait_for(at_end + 5)
    finally:
        writer.stop()
    after = counts(source)
    assert result.exit_code == 0, result.output
    assert at_end - at_start >= 3, "the writer did not write while the backup ran"

    record = json.loads((tmp_path / "drill.backup.json").read_text())
    assert data_of(path).startswith(MAGIC[BACKEND])
    assert (path.stat().st_mode & 0o777, (tmp_path / "drill.backup.json").stat().st_mode & 0o777) == (0o600, 0o600)
    assert (record["backend"], record["revision"], record["size"]) == (BACKEND, head(), path.stat().st_size)
    assert record["rows"] == sum(record["tables"].values())
    assert set(record["tables"]) == set(before)
    for table, count in record["tables"].items():
        assert before[table] <= count <= after[table], table
    assert before["audit_events"] < record["tables"]["audit_events"] < after["audit_events"]
    progress_line = "100%" if BACKEND == "sqlite" else "dumping table users ("
    assert progress_line in result.output
    assert re.search(rf"Backup written: {re.escape(str(path))} \(.* MB, {record['size']} bytes\), "
                     rf"{len(before)} tables, {record['rows']} rows, [\d.]+ s\.", result.output)

    target = scratch.app(scratch.empty("drill_dst"))
    result = run(target, "restore", path, "--yes", "--progress")
    assert result.exit_code == 0, result.output
    assert f"Restored: {path}" in result.output and f"{record['rows']} rows" in result.output
    assert counts(target) == record["tables"]
    with target.app_context(), db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == head()
        assert orphans(conn) == 0
        joined = conn.execute(sa.text("SELECT count(*) FROM reflections r JOIN assignments a "
                                      "ON a.id = r.assignment_id JOIN users u ON u.id = r.author_id")).scalar_one()
        assert joined == record["tables"]["reflections"] == 3
        if BACKEND == "sqlite":
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
            assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        reflection_id, answers = scratch.reflection
        raw = conn.execute(sa.text("SELECT answers FROM reflections WHERE id = :id"),
                           {"id": reflection_id}).scalar_one()
        assert answers[0] not in str(raw)  # stored encrypted ...
    with target.app_context():
        assert db.session.get(Reflection, reflection_id).answers == answers  # ... and readable
        assert answers[0] == "It went well."
        db.session.remove()


# --- refusals ---------------------------------------------------------------------------------

def test_restore_refused_while_the_database_is_in_use(scratch, tmp_path):
    application = scratch.work
    path = tmp_path / "busy.backup"
    assert run(application, "backup", path).exit_code == 0
    marker = add_marker(application)
    kept = counts(application)
    url = application.config["SQLALCHEMY_DATABASE_URI"]

    if BACKEND == "sqlite":
        holder = subprocess.Popen(
            [sys.executable, "-c", ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                                    "c.execute('SELECT count(*) FROM users').fetchone(); "
                                    "print('ready', flush=True); sys.stdin.read()"),
             sa.make_url(url).database], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ready"
        def release():
            holder.stdin.close()
            holder.wait(10)
        expected = [f"pid {holder.pid}", "Stop the app (gunicorn) first"]
    else:
        import psycopg

        libpq_url = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        holder = psycopg.connect(libpq_url)
        holder.execute("SELECT 1")
        release = holder.close
        expected = ["1 other session(s) connected", "Stop the app (gunicorn)"]
    try:
        result = run(application, "restore", path, "--yes")
    finally:
        release()
    assert result.exit_code == 1, result.output
    assert "is in use" in result.output and "Nothing was changed" in result.output
    for text in expected:
        assert text in result.output
    assert marker_present(application, marker) and counts(application) == kept

    result = run(application, "restore", path, "--yes")  # once the holder has gone, it works
    assert result.exit_code == 0, result.output
    assert not marker_present(application, marker)
    assert counts(application) == json.loads((tmp_path / "busy.backup.json").read_text())["tables"]


def test_restore_refuses_a_backup_from_the_other_backend(scratch, tmp_path):
    application = scratch.work
    kept = counts(application)
    other = tmp_path / "other.backup"
    if BACKEND == "sqlite":
        other.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
        message = "is a PostgreSQL backup, but the configured database is SQLite"
    else:
        import sqlite3

        con = sqlite3.connect(other)
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        con.commit()
        con.close()
        message = "is a SQLite backup, but the configured database is PostgreSQL"
    result = run(application, "restore", other, "--yes")
    assert result.exit_code == 1
    assert message in result.output
    assert counts(application) == kept

    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup at all")
    result = run(application, "restore", junk, "--yes")
    assert result.exit_code == 1 and "is not a backup" in result.output


def test_restore_refuses_a_file_that_does_not_match_its_record(scratch, tmp_path):
    application = scratch.work
    path = tmp_path / "tamper.backup"
    assert run(application, "backup", path).exit_code == 0
    marker = add_marker(application)
    with open(path, "ab") as handle:
        handle.write(b"\x00")
    result = run(application, "restore", path, "--yes")
    assert result.exit_code == 1
    assert "does not match its record" in result.output
    assert marker_present(application, marker)


def test_backup_refuses_to_overwrite_without_force(scratch, tmp_path):
    application = scratch.work
    path = tmp_path / "existing.backup"
    path.write_text("an older backup")
    result = run(application, "backup", path)
    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert path.read_text() == "an older backup"
    assert not (tmp_path / "existing.backup.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.backup"]  # no temporary file left

    result = run(application, "backup", path, "--force")
    assert result.exit_code == 0, result.output
    assert data_of(path).startswith(MAGIC[BACKEND])
    assert json.loads((tmp_path / "existing.backup.json").read_text())["tables"] == counts(application)


def test_missing_files_and_folders_are_clear_errors(scratch, tmp_path):
    application = scratch.work
    result = run(application, "restore", tmp_path / "nowhere.backup", "--yes")
    assert result.exit_code == 1
    assert f"No backup file at {tmp_path / 'nowhere.backup'}" in result.output
    result = run(application, "backup", tmp_path / "no-such-folder" / "x.backup")
    assert result.exit_code == 1
    assert f"The folder {tmp_path / 'no-such-folder'} does not exist" in result.output


# --- confirmation -----------------------------------------------------------------------------

def test_restore_asks_first_and_no_changes_nothing(scratch, tmp_path):
    application = scratch.work
    path = tmp_path / "confirm.backup"
    assert run(application, "backup", path).exit_code == 0
    marker = add_marker(application)
    kept = counts(application)

    result = run(application, "restore", path, input="n\n")
    assert result.exit_code == 1
    assert "will be replaced by the backup confirm.backup" in result.output and "Aborted" in result.output
    assert marker_present(application, marker) and counts(application) == kept

    result = run(application, "restore", path, input="y\n")
    assert result.exit_code == 0, result.output
    assert not marker_present(application, marker)


# --- PostgreSQL tools -------------------------------------------------------------------------

@pytest.mark.skipif(BACKEND != "postgresql", reason="pg_dump is only used for PostgreSQL")
def test_pg_dump_gets_the_password_by_environment_and_a_missing_pg_dump_is_explained(scratch, tmp_path,
                                                                                       monkeypatch):
    url = sa.make_url(scratch.work.config["SQLALCHEMY_DATABASE_URI"]).set(password="s3cret-pw")
    application = scratch.app(url.render_as_string(hide_password=False))
    calls = []
    real_popen = subprocess.Popen

    def spy(args, **kwargs):
        calls.append((args, kwargs["env"]))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(backup_postgresql.subprocess, "Popen", spy)
    result = run(application, "backup", tmp_path / "secret.backup")
    assert result.exit_code == 0, result.output
    [(args, env)] = [call for call in calls if Path(call[0][0]).name == "pg_dump"]
    assert Path(args[0]).name == "pg_dump" and "--format=custom" in args
    assert "s3cret-pw" not in " ".join(args) and "s3cret-pw" not in result.output
    assert (env["PGPASSWORD"], env["PGDATABASE"], env["PGUSER"]) == ("s3cret-pw", url.database, url.username)

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = run(application, "backup", tmp_path / "again.backup")
    assert result.exit_code == 1
    assert "pg_dump was not found on PATH" in result.output
    assert not (tmp_path / "again.backup").exists()
