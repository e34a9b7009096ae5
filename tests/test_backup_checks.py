"""Backups that check themselves (issue 22, item 5): the checksum of the data and the key ids of its
encrypted values are inside the backup file, and restore checks them, and decrypts every encrypted
value of the backup's own copy, before it replaces anything. A damaged backup (truncated,
bit-flipped, of the wrong format, not matching its checksum, holding a value the configured keys do
not open) is refused with one line on stderr and a non-zero exit, never a traceback, and the live
database keeps every row. Runs on SQLite, and on PostgreSQL (pg_dump archives) when
TEST_DATABASE_URL is set; scratch databases only (tests/test_backup.py's helpers)."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app.core.crypto import keyring
from app.extensions import db
from app.models import Reflection
from app.notifications.deliverer import wait_until_delivered
from tests.test_backup import BACKEND, MAGIC, Scratch, add_marker, counts, head, marker_present, run

HEADER = b"COMMON-GROUND-BACKUP 2\n"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One migrated database holding the world of tests/world.py (encrypted reflections, notes,
    two-factor secrets): the live database every test backs up and tries to restore into."""
    from tests.world import build_world

    helper = Scratch(tmp_path_factory.mktemp("backup_checks"))
    try:
        live = helper.app(helper.empty("ck_live"))
        with live.app_context():
            upgrade()
            world = build_world()
            helper.reflection = (world["reflection"].id, world["reflection"].answers)
            wait_until_delivered()  # the world's invitation email is sent on one of its connections
            db.session.remove()
            db.engine.dispose()
        helper.live = live
        yield helper
    finally:
        helper.close()


def content(application) -> dict[str, list[str]]:
    """Every row of every table, as text: what "the live data is unchanged" compares."""
    with application.app_context():
        try:
            with db.engine.connect() as conn:
                quote = conn.dialect.identifier_preparer.quote
                return {name: sorted(repr(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {quote(name)}")))
                        for name in sorted(sa.inspect(conn).get_table_names())}
        finally:
            db.session.remove()
            db.engine.dispose()


def take(application, path) -> dict:
    """A fresh backup at `path`; returns its record."""
    result = run(application, "backup", path)
    assert result.exit_code == 0, result.output
    return json.loads(path.with_name(path.name + ".json").read_text())


def split(path) -> tuple[dict, int]:
    """The manifest of the backup at `path` and where its data starts, read without the app's code."""
    data = path.read_bytes()
    assert data.startswith(HEADER)
    line, _, _ = data[len(HEADER):].partition(b"\n")
    return json.loads(line), len(HEADER) + len(line) + 1


def refused(result, *phrases: str) -> str:
    """The restore was refused cleanly: non-zero exit, no traceback (a ClickException, which click
    turns into exit code 1), exactly one line on stderr; returns that line."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), f"not a clean refusal but {result.exception!r}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def attempt(scratch, path, *options, phrases=()):
    """Restore `path` into the live database, which must be refused and leave every row there."""
    marker = add_marker(scratch.live)
    before = content(scratch.live)
    line = refused(run(scratch.live, "restore", path, "--yes", *options), *phrases)
    assert content(scratch.live) == before
    assert marker_present(scratch.live, marker)
    return line


def drop_record(path) -> None:
    path.with_name(path.name + ".json").unlink()


# --- the file carries its own checks --------------------------------------------------------------

def test_the_backup_carries_the_checksum_of_its_data_and_the_key_ids_of_its_values(scratch, tmp_path):
    path = tmp_path / "carries.backup"
    record = take(scratch.live, path)
    manifest, offset = split(path)
    data = path.read_bytes()[offset:]
    assert data.startswith(MAGIC[BACKEND])
    assert manifest["backend"] == BACKEND and manifest["revision"] == head()
    assert manifest["payload_size"] == len(data)
    assert manifest["payload_sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["key_ids"] == [keyring(scratch.live.config).current_id]
    assert manifest["encrypted_values"] > 0
    assert manifest["tables"] == counts(scratch.live)
    # The record beside it says the same, with the whole file's checksum.
    assert {k: record[k] for k in manifest} == manifest
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_good_backup_restores_without_its_record(scratch, tmp_path):
    path = tmp_path / "good.backup"
    record = take(scratch.live, path)
    drop_record(path)
    marker = add_marker(scratch.live)
    result = run(scratch.live, "restore", path, "--yes")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Backup checked: checksum ok" in result.output
    assert f"{record['encrypted_values']} encrypted values decrypted" in result.output
    assert not marker_present(scratch.live, marker)
    assert counts(scratch.live) == record["tables"]
    reflection_id, answers = scratch.reflection
    with scratch.live.app_context():
        assert db.session.get(Reflection, reflection_id).answers == answers
        db.session.remove()
        db.engine.dispose()


# --- damaged files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("record", [False, True], ids=["record-missing", "record-beside"])
def test_a_truncated_backup_is_refused(scratch, tmp_path, record):
    path = tmp_path / "truncated.backup"
    take(scratch.live, path)
    if not record:
        drop_record(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    line = attempt(scratch, path)
    assert ("truncated" in line) if not record else ("does not match its record" in line)


def _flip_inside_an_encrypted_value(data: bytearray, offset: int) -> None:
    if BACKEND == "sqlite":
        at = data.index(b"enc:v1:", offset) + 30  # within the base64 of nonce, ciphertext and tag
    else:
        at = offset + (len(data) - offset) * 2 // 3  # pg_dump compresses the rows: somewhere in them
    data[at] ^= 0x01


def test_a_bit_flipped_value_is_refused_by_the_checksum(scratch, tmp_path):
    path = tmp_path / "flipped.backup"
    take(scratch.live, path)
    drop_record(path)
    data = bytearray(path.read_bytes())
    offset = split(path)[1] if data.startswith(HEADER) else 0  # (0: a bare copy, as before this change)
    _flip_inside_an_encrypted_value(data, offset)
    path.write_bytes(bytes(data))
    attempt(scratch, path, phrases=["does not match the sha256 checksum in its manifest"])


def test_a_checksum_that_does_not_match_the_data_is_refused(scratch, tmp_path):
    path = tmp_path / "checksum.backup"
    take(scratch.live, path)
    drop_record(path)
    manifest, offset = split(path)
    wrong = ("0" if manifest["payload_sha256"][0] != "0" else "1") + manifest["payload_sha256"][1:]
    path.write_bytes(path.read_bytes().replace(manifest["payload_sha256"].encode(), wrong.encode(), 1))
    attempt(scratch, path, phrases=["does not match the sha256 checksum"])


@pytest.mark.parametrize("case", ["text", "header-only", "broken-manifest", "no-checksum", "future-format",
                                  "other-data"])
def test_a_file_of_the_wrong_format_is_refused(scratch, tmp_path, case):
    path = tmp_path / f"{case}.backup"
    take(scratch.live, path)
    manifest, offset = split(path)
    data = path.read_bytes()
    without = {k: v for k, v in manifest.items() if k != "payload_sha256"}
    other = MAGIC["postgresql" if BACKEND == "sqlite" else "sqlite"]
    made = {
        "text": b"these are not the notes you are looking for\n",
        "header-only": HEADER,
        "broken-manifest": HEADER + b'{"backend": "sql' + b"\n" + data[offset:],
        "no-checksum": HEADER + json.dumps(without).encode() + b"\n" + data[offset:],
        "future-format": b"COMMON-GROUND-BACKUP 9\n" + data[len(HEADER):],
        "other-data": data[:offset] + other + data[offset + len(other):],
    }[case]
    path.write_bytes(made)
    drop_record(path)
    line = attempt(scratch, path)
    expected = {"text": "is not a backup", "header-only": "truncated", "broken-manifest": "manifest",
                "no-checksum": "manifest", "future-format": "format 9", "other-data": "is damaged"}[case]
    assert expected in line


def test_a_value_that_does_not_decrypt_is_refused_before_anything_is_replaced(scratch, tmp_path):
    # A backup whose checksum is right but one of whose values no configured key opens (altered
    # before the backup was taken): only decrypting every value finds it.
    reflection_id, _ = scratch.reflection
    with scratch.live.app_context(), db.engine.begin() as conn:
        good = conn.execute(sa.text("SELECT answers FROM reflections WHERE id = :id"), {"id": reflection_id}).scalar()
        bad = good[:-12] + ("A" if good[-12] != "A" else "B") + good[-11:]
        conn.execute(sa.text("UPDATE reflections SET answers = :bad WHERE id = :id"), {"bad": bad, "id": reflection_id})
    path = tmp_path / "undecryptable.backup"
    try:
        take(scratch.live, path)
    finally:
        with scratch.live.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE reflections SET answers = :good WHERE id = :id"),
                         {"good": good, "id": reflection_id})
        with scratch.live.app_context():
            db.engine.dispose()
    drop_record(path)
    attempt(scratch, path, phrases=[f"reflections.answers of row {reflection_id} does not decrypt",
                                    "does not decrypt"])

    # The same copy as a backup from before this format (no manifest): refused even when allowed.
    _, offset = split(path)
    old = tmp_path / "undecryptable-old.backup"
    old.write_bytes(path.read_bytes()[offset:])
    attempt(scratch, old, "--allow-unverified", phrases=[f"reflections.answers of row {reflection_id}"])


def test_a_backup_written_with_a_key_that_is_not_configured_is_refused(scratch, tmp_path):
    import base64
    import os

    from app import create_app
    from config import TestingConfig

    path = tmp_path / "other-key.backup"
    take(scratch.live, path)
    drop_record(path)

    class OtherKeysConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = scratch.live.config["SQLALCHEMY_DATABASE_URI"]
        ENCRYPTION_KEYS = "elsewhere:" + base64.b64encode(os.urandom(32)).decode()

    other = create_app(OtherKeysConfig)
    Scratch.apps.append(other)
    marker = add_marker(scratch.live)
    before = content(scratch.live)
    line = refused(run(other, "restore", path, "--yes"), "ENCRYPTION_KEYS lacks")
    assert keyring(scratch.live.config).current_id in line
    assert content(scratch.live) == before and marker_present(scratch.live, marker)


# --- backups from before this change ---------------------------------------------------------------

def test_an_old_backup_is_refused_unless_allowed_and_then_still_checked(scratch, tmp_path):
    path = tmp_path / "new.backup"
    record = take(scratch.live, path)
    _, offset = split(path)
    old = tmp_path / "old.backup"  # what `flask backup` wrote before: the bare copy (and its record)
    old.write_bytes(path.read_bytes()[offset:])
    line = attempt(scratch, old, phrases=["carries no checksum of its own", "--allow-unverified"])
    assert "made before backups checked themselves" in line

    shutil.copy(path.with_name(path.name + ".json"), old.with_name(old.name + ".json"))
    old_record = {**record, "sha256": hashlib.sha256(old.read_bytes()).hexdigest(), "size": old.stat().st_size}
    old.with_name(old.name + ".json").write_text(json.dumps(old_record))
    marker = add_marker(scratch.live)
    result = run(scratch.live, "restore", old, "--yes", "--allow-unverified")
    assert result.exit_code == 0, result.output
    assert "encrypted values decrypted" in result.output and "checksum ok" not in result.output
    assert not marker_present(scratch.live, marker)
    assert counts(scratch.live) == record["tables"]
