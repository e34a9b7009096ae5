"""Online backup and restore: `flask backup PATH` and `flask restore PATH`.

The commands are here; how each backend is copied is in backup_sqlite.py (the sqlite3 backup API)
and backup_postgresql.py (pg_dump / pg_restore on our own snapshot). Either way PATH.json records
the backend, the alembic revision, the row counts of that very snapshot and the file's sha256
(backup_record.py); restore checks them.

Backups hold mental-health records: they are written with mode 0600, and reading the encrypted
fields after a restore needs the same ENCRYPTION_KEYS as when they were written.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db
from app.ops import backup_postgresql, backup_sqlite
from app.ops.backup_files import create_private, detect, fsync
from app.ops.backup_progress import Progress
from app.ops.backup_record import BACKENDS, backend_name, describe, read_record, record_path, write_record


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
    # Both files are written beside their final names and renamed into place only when complete,
    # so PATH never holds half a backup and a failure leaves an older backup there untouched.
    tmp, record_tmp = (path.with_name(f".{name}.{os.getpid()}.tmp") for name in (path.name, path.name + ".json"))
    try:
        create_private(tmp)
        if backend == "sqlite":
            snapshot = backup_sqlite.take_backup(tmp, Progress("Copying", progress), step_pages)
        else:
            snapshot = backup_postgresql.take_backup(tmp, Progress("Dumping", progress))
        record = describe(backend, path, tmp, snapshot)
        fsync(tmp)
        write_record(record_tmp, record)
        os.replace(tmp, path)
        os.replace(record_tmp, record_path(path))
    finally:
        tmp.unlink(missing_ok=True)
        record_tmp.unlink(missing_ok=True)
    click.echo(f"Alembic revision: {record['revision']}. Record: {record_path(path)}")
    _summary("Backup written", path, record["tables"], time.monotonic() - started)


def _refuse_if_in_use(backend: str) -> None:
    if backend == "sqlite":
        backup_sqlite.refuse_if_in_use()
    else:
        backup_postgresql.refuse_if_in_use()


def _report_counts(counts: dict[str, int], record: dict | None) -> None:
    expected = (record or {}).get("tables")
    click.echo("Rows per table" + (" (compared with the backup's record):" if expected else ":"))
    for name in sorted(set(counts) | set(expected or {})):
        found, want = counts.get(name), (expected or {}).get(name)
        mark = "" if expected is None or found == want else f"   <-- the backup recorded {want}"
        click.echo(f"  {name:<28} {found if found is not None else 'missing':>8}{mark}")
    if expected is not None and counts != expected:
        raise click.ClickException("The restored row counts differ from the backup's record (see above).")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--progress/--no-progress", default=None, help="Show progress (default: on a terminal).")
@with_appcontext
def restore_command(path: Path, yes: bool, progress: bool | None):
    """Replace everything in the database with the backup at PATH (stop the app first)."""
    path = path.absolute()
    if not path.is_file():
        raise click.ClickException(f"No backup file at {path}.")
    backend = _backend()
    kind = detect(path)
    if kind is None:
        raise click.ClickException(f"{path} is not a backup: neither a SQLite database nor a pg_dump archive.")
    if kind != backend:
        raise click.ClickException(
            f"{path} is a {backend_name(kind)} backup, but the configured database is {backend_name(backend)}. "
            f"Restore it into a {backend_name(kind)} database. Nothing was changed.")
    record = read_record(path, kind)
    revision, head = (record or {}).get("revision"), _head_revision()
    if record and revision != head:
        later = "" if revision in _known_revisions() else " (a revision this version of the code does not know)"
        click.echo(f"Note: the backup is at revision {revision}{later}; this code's migrations end at {head}. "
                   "Run `flask db upgrade` after the restore.", err=True)
    _refuse_if_in_use(backend)
    target = backup_sqlite.database_path() if backend == "sqlite" else db.engine.url.database
    if not yes:
        taken = f" taken {record['created_at']}" if record else ""
        click.confirm(f"All data now in {target} will be replaced by the backup {path.name}{taken}. Continue?",
                      abort=True)
    _refuse_if_in_use(backend)  # again: someone may have connected while we waited for the answer
    started = time.monotonic()
    click.echo(f"Restoring {path} into the {backend_name(backend)} database {target} ...")
    if backend == "sqlite":
        counts, restored_revision = backup_sqlite.restore(path, Progress("Restoring", progress))
    else:
        counts, restored_revision = backup_postgresql.restore(path, Progress("Restoring", progress))
    click.echo(f"Alembic revision: {restored_revision}.")
    _report_counts(counts, record)
    _summary("Restored", path, counts, time.monotonic() - started)
