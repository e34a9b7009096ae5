"""SQLite backup and restore: the sqlite3 backup API, one consistent snapshot while the app writes.

The copy runs page by page inside one read transaction, so it is one snapshot while the app goes
on writing (WAL lets writers continue), and the row counts are taken in that same snapshot.
Restore stages the backup's database beside the live one, checks it (integrity, rows, every
encrypted value) and only then renames it over the live file.
"""
from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path

import click

from app.core.database import SQLITE_BUSY_TIMEOUT_MS
from app.extensions import db
from app.ops.backup_files import fsync
from app.ops.backup_format import Refused
from app.ops.backup_progress import Progress
from app.ops.backup_record import count_sql
from app.ops.backup_verify import Values, check_sqlite


def database_path() -> Path:
    """The configured database file; refused for an in-memory database."""
    database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise click.ClickException("Backup and restore need a SQLite database file, not an in-memory database.")
    return Path(database).resolve()


def _counts(con: sqlite3.Connection) -> dict[str, int]:
    names = [row[0] for row in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: con.execute(count_sql('"' + name.replace('"', '""') + '"')).fetchone()[0] for name in names}


def _revision(con: sqlite3.Connection) -> str | None:
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _integrity(con: sqlite3.Connection) -> str:
    return "; ".join(row[0] for row in con.execute("PRAGMA integrity_check"))


def take_backup(tmp: Path, progress: Progress, step_pages: int | None) -> dict:
    """Copy the database into `tmp`; returns the snapshot's revision and row counts."""
    source = database_path()
    if not source.is_file():
        raise click.ClickException(f"The database file {source} does not exist.")
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    dst = sqlite3.connect(tmp)
    try:
        # One read transaction around the whole copy: every step reads the same snapshot, and the
        # counts below describe exactly that snapshot (writers go on in the WAL meanwhile).
        src.execute("BEGIN")
        counts, revision = _counts(src), _revision(src)
        pages = step_pages or max(64, src.execute("PRAGMA page_count").fetchone()[0] // 100)
        src.backup(dst, pages=pages, progress=lambda _status, left, total: progress.update(total - left, total))
        src.execute("COMMIT")
        progress.finish()
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        check = _integrity(dst)
        values = Values(None, "The copy")
        if check == "ok":
            check_sqlite(dst, values)  # the key ids its encrypted values were written with
    finally:
        progress.finish()
        dst.close()
        src.close()
    if check != "ok":
        raise click.ClickException(f"The copy failed its integrity check: {check[:500]}")
    click.echo("Integrity check of the copy: ok")
    return {"revision": revision, "tables": counts, "key_ids": sorted(values.key_ids),
            "encrypted_values": values.total}


def _holders(target: Path) -> list[str] | None:
    """Other processes with the database (or its -wal/-shm) open, from /proc; None if unknowable."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    names = {str(target), f"{target}-wal", f"{target}-shm"}
    holders = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
            if links & names:
                holders.append(f"{(entry / 'comm').read_text().strip()} (pid {entry.name})")
        except OSError:  # gone, or another user's process we may not look into
            continue
    return holders


def refuse_if_in_use() -> None:
    """Stop with a message if another process has the database file open."""
    db.session.remove()
    db.engine.dispose()  # our own pooled connections are not "someone else"
    target = database_path()
    holders = _holders(target)
    if holders is None:
        click.echo("Warning: cannot tell on this system whether another process has the database open; "
                   "make sure the app is stopped.", err=True)
    elif holders:
        raise click.ClickException(f"The database {target} is in use by {', '.join(holders)}. Stop the app "
                                   "(gunicorn) first, then run restore again. Nothing was changed.")


def staging_path() -> Path:
    """Where a backup is staged beside the database before it replaces it (same file system)."""
    target = database_path()
    return target.with_name(f".{target.name}.restore-{os.getpid()}.tmp")


def check_copy(staged: Path, values: Values) -> tuple[dict[str, int], str | None]:
    """Integrity, rows and revision of the staged copy, every encrypted value checked: a damaged
    copy is refused (Refused) before anything is replaced."""
    con = sqlite3.connect(f"file:{urllib.parse.quote(str(staged))}?mode=ro", uri=True)
    try:
        check = _integrity(con)
        if check != "ok":
            raise Refused(f"The backup's database is damaged (integrity check: {check[:300]}).")
        counts, revision = _counts(con), _revision(con)
        check_sqlite(con, values)
    except sqlite3.DatabaseError as exc:
        raise Refused(f"The backup's database cannot be read ({exc}).") from None
    finally:
        con.close()
    return counts, revision


def swap_in(staged: Path) -> tuple[dict[str, int], str | None]:
    """Replace the database file with the checked copy; returns the restored row counts and revision."""
    target = database_path()
    if target.exists():  # keep the owner and mode the app's database file had
        info = target.stat()
        os.chmod(staged, info.st_mode & 0o777)
        if os.geteuid() == 0:
            os.chown(staged, info.st_uid, info.st_gid)
    refuse_if_in_use()  # again, just before the swap
    if target.exists():
        # Fold the old database's WAL into it and remove it: a stale -wal must never be
        # replayed onto the restored file.
        old = sqlite3.connect(target, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        old.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    fsync(staged)
    os.replace(staged, target)
    con = sqlite3.connect(target)
    try:
        check = _integrity(con)
        counts, revision = _counts(con), _revision(con)
    finally:
        con.close()
    if check != "ok":
        raise click.ClickException(f"The restored database failed its integrity check: {check[:500]}")
    click.echo("Integrity check of the restored database: ok")
    return counts, revision
