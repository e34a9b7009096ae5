"""Online backup and restore: `flask backup PATH` and `flask restore PATH`.

The commands are here; how each backend is copied is in backup_sqlite.py (the sqlite3 backup API)
and backup_postgresql.py (pg_dump / pg_restore on our own snapshot). The file is a header, a
manifest and that copy (backup_format.py): the manifest carries the sha256 of the copy, the key
ids of its encrypted values, the alembic revision and the row counts of that very snapshot; PATH.json
beside it repeats them with the whole file's sha256 (backup_record.py).

Restore checks everything before it replaces anything: the header and length, the record if there
is one, the checksum, then the copy itself staged aside (a file beside the SQLite database, or the
archive read through pg_restore): its integrity, its rows, and every encrypted value decrypted with
the configured keys (backup_verify.py). A damaged backup is refused with one line, nothing changed.

Backups hold mental-health records: they are written with mode 0600, and reading the encrypted
fields after a restore needs the same ENCRYPTION_KEYS as when they were written.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.core.crypto import keyring
from app.extensions import db
from app.ops import backup_format, backup_postgresql, backup_sqlite
from app.ops.backup_files import create_private, fsync
from app.ops.backup_format import BackupFile, Refused
from app.ops.backup_progress import Progress
from app.ops.backup_record import BACKENDS, backend_name, describe, manifest_of, read_record, record_path, write_record
from app.ops.backup_verify import Values


def _backend() -> str:
    return db.engine.url.get_backend_name()


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(current_app.extensions["migrate"].directory).get_current_head()


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory(current_app.extensions["migrate"].directory).walk_revisions()}


def _summary(what: str, path: Path, counts: dict[str, int], seconds: float) -> None:
    size = path.stat().st_size
    click.echo(f"{what}: {path} ({size / 1_048_576:.1f} MB, {size} bytes), {len(counts)} tables, "
               f"{sum(counts.values())} rows, {seconds:.1f} s.")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing file at PATH.")
@click.option("--progress/--no-progress", default=None, help="Show progress (default: on a terminal).")
@click.option("--step-pages", type=click.IntRange(min=1), default=None, hidden=True,
              help="SQLite pages copied per step (default: about 1%% of the database).")
@with_appcontext
def backup_command(path: Path, force: bool, progress: bool | None, step_pages: int | None):
    """Take a consistent online backup of the database to PATH (and its record PATH.json)."""
    path = path.absolute()
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists. Choose another path, or pass --force to replace it.")
    if not path.parent.is_dir():
        raise click.ClickException(f"The folder {path.parent} does not exist.")
    backend = _backend()
    if backend not in BACKENDS:
        raise click.ClickException(f"Backups of a {backend} database are not supported.")
    started = time.monotonic()
    click.echo(f"Backing up the {backend_name(backend)} database to {path} ...")
    # Every file is written beside its final name and renamed into place only when complete, so
    # PATH never holds half a backup and a failure leaves an older backup there untouched.
    copy, tmp, record_tmp = (path.with_name(f".{name}.{os.getpid()}.tmp")
                             for name in (path.name + ".copy", path.name, path.name + ".json"))
    try:
        create_private(copy)
        if backend == "sqlite":
            snapshot = backup_sqlite.take_backup(copy, Progress("Copying", progress), step_pages)
        else:
            snapshot = backup_postgresql.take_backup(copy, Progress("Dumping", progress))
        create_private(tmp)
        manifest = backup_format.write(tmp, manifest_of(backend, snapshot), copy, Progress("Writing", progress))
        record = describe(path, tmp, manifest)
        fsync(tmp)
        write_record(record_tmp, record)
        os.replace(tmp, path)
        os.replace(record_tmp, record_path(path))
    finally:
        for leftover in (copy, tmp, record_tmp):
            leftover.unlink(missing_ok=True)
    keys = ", ".join(record["key_ids"]) or "none"
    click.echo(f"Alembic revision: {record['revision']}. Encrypted values: {record['encrypted_values']} "
               f"(key ids: {keys}). Data sha256: {record['payload_sha256']}. Record: {record_path(path)}")
    _summary("Backup written", path, record["tables"], time.monotonic() - started)


def _refuse_if_in_use(backend: str) -> None:
    if backend == "sqlite":
        backup_sqlite.refuse_if_in_use()
    else:
        backup_postgresql.refuse_if_in_use()


def _open(path: Path, backend: str) -> BackupFile:
    """The backup at `path`, of the configured backend; refused (one line) otherwise."""
    if not path.is_file():
        raise click.ClickException(f"No backup file at {path}.")
    try:
        found = backup_format.open_backup(path)
    except OSError as exc:
        raise Refused(f"{path} cannot be read ({exc.strerror or exc}).") from None
    if found is None:
        raise click.ClickException(f"{path} is not a backup: neither a Common Ground backup, a SQLite database "
                                   "nor a pg_dump archive.")
    if found.kind != backend:
        raise click.ClickException(
            f"{path} is a {backend_name(found.kind)} backup, but the configured database is {backend_name(backend)}. "
            f"Restore it into a {backend_name(found.kind)} database. Nothing was changed.")
    return found


def _check_keys(found: BackupFile) -> None:
    """Refuse at once a backup written with a key that is not configured."""
    configured = [key_id for key_id, _ in keyring().keys]
    missing = [key_id for key_id in (found.manifest or {}).get("key_ids", []) if key_id not in configured]
    if missing:
        raise Refused(f"The backup's values are encrypted with key {', '.join(missing)}, which ENCRYPTION_KEYS "
                      f"lacks (configured: {', '.join(configured)}). Configure the keys it was written with.")


def _stage(backend: str) -> Path:
    """A private file for the backup's copy: beside the SQLite database (the same file system, so
    the swap is a rename), or a temporary file for pg_restore to read."""
    if backend == "sqlite":
        staged = backup_sqlite.staging_path()
        create_private(staged)
        return staged
    handle, name = tempfile.mkstemp(prefix="common-ground-restore-", suffix=".dump")  # mode 0600
    os.close(handle)
    return Path(name)


def _check(found: BackupFile, staged: Path, expected: dict | None, progress: bool | None) -> Values:
    """Stage the backup's copy and check it all before anything is replaced: the checksum, the
    copy's integrity, its rows and revision against the manifest (or the record), and every
    encrypted value decrypted with the configured keys. Damage is refused (Refused)."""
    try:
        backup_format.extract(found, staged, Progress("Reading", progress))
        values = Values(keyring(), f"The backup {found.path}")
        if found.kind == "sqlite":
            counts, revision = backup_sqlite.check_copy(staged, values)
        else:
            _, (counts, revision) = backup_postgresql.check_archive(staged, values, backup_postgresql.app_schema())
    except (OSError, sqlite3.Error, UnicodeError) as exc:
        raise Refused(f"The backup {found.path} cannot be read ({exc}).") from None
    if expected is not None:
        tables = expected.get("tables") or {}
        differ = sorted(name for name in set(tables) | set(counts) if tables.get(name) != counts.get(name))
        if differ:
            raise Refused(f"The backup {found.path} is damaged: the rows of {', '.join(differ[:5])} differ from "
                          "the counts recorded when it was taken.")
        if expected.get("revision") != revision:
            raise Refused(f"The backup {found.path} is damaged: its data is at revision {revision}, its record "
                          f"says {expected.get('revision')}.")
    manifest = found.manifest
    if manifest is not None and (sorted(values.key_ids) != sorted(manifest["key_ids"])
                                 or values.total != manifest["encrypted_values"]):
        raise Refused(f"The backup {found.path} is damaged: its encrypted values ({values.total}, keys "
                      f"{', '.join(sorted(values.key_ids)) or 'none'}) differ from its manifest's.")
    keys = ", ".join(sorted(values.key_ids)) or "none"
    click.echo(f"Backup checked: {'checksum ok, ' if manifest else ''}{sum(counts.values())} rows in "
               f"{len(counts)} tables, {values.total} encrypted values decrypted (key ids: {keys}).")
    return values


def _report_counts(counts: dict[str, int], expected: dict | None) -> None:
    tables = (expected or {}).get("tables")
    click.echo("Rows per table" + (" (compared with the backup's record):" if tables else ":"))
    for name in sorted(set(counts) | set(tables or {})):
        found, want = counts.get(name), (tables or {}).get(name)
        mark = "" if tables is None or found == want else f"   <-- the backup recorded {want}"
        click.echo(f"  {name:<28} {found if found is not None else 'missing':>8}{mark}")
    if tables is not None and counts != tables:
        raise click.ClickException("The restored row counts differ from the backup's record (see above).")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-unverified", is_flag=True,
              help="Restore a backup made before backups carried their own checksum (it is still checked: "
                   "every encrypted value must decrypt).")
@click.option("--progress/--no-progress", default=None, help="Show progress (default: on a terminal).")
@with_appcontext
def restore_command(path: Path, yes: bool, allow_unverified: bool, progress: bool | None):
    """Replace everything in the database with the backup at PATH, once it is checked (stop the app first)."""
    path = path.absolute()
    backend = _backend()
    found = _open(path, backend)
    record = read_record(path, found.kind, self_checking=found.manifest is not None)
    backup_format.check_length(found)
    if found.manifest is None and not allow_unverified:
        raise Refused(f"{path} carries no checksum of its own: it was made before backups checked themselves, "
                      "or is a bare database file. To restore it all the same, once every encrypted value in it "
                      "has been decrypted, pass --allow-unverified.")
    expected = found.manifest or record
    _check_keys(found)
    _refuse_if_in_use(backend)
    target = backup_sqlite.database_path() if backend == "sqlite" else db.engine.url.database
    started = time.monotonic()
    click.echo(f"Checking the backup {path} ...")
    try:
        staged = _stage(backend)
    except OSError as exc:
        raise Refused(f"No room to check the backup in ({exc}).") from None
    try:
        _check(found, staged, expected, progress)
        revision, head = (expected or {}).get("revision"), _head_revision()
        if expected and revision != head:
            later = "" if revision in _known_revisions() else " (a revision this version of the code does not know)"
            click.echo(f"Note: the backup is at revision {revision}{later}; this code's migrations end at {head}. "
                       "Run `flask db upgrade` after the restore.", err=True)
        if not yes:
            taken = f" taken {expected['created_at']}" if expected and expected.get("created_at") else ""
            click.confirm(f"All data now in {target} will be replaced by the backup {path.name}{taken}. Continue?",
                          abort=True)
        _refuse_if_in_use(backend)  # again: someone may have connected while we waited for the answer
        click.echo(f"Restoring {path} into the {backend_name(backend)} database {target} ...")
        if backend == "sqlite":
            counts, restored_revision = backup_sqlite.swap_in(staged)
        else:
            counts, restored_revision = backup_postgresql.restore(staged, Progress("Restoring", progress))
    finally:
        staged.unlink(missing_ok=True)
    click.echo(f"Alembic revision: {restored_revision}.")
    _report_counts(counts, expected)
    _summary("Restored", path, counts, time.monotonic() - started)
