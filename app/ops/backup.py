"""Online backup and restore: `flask backup PATH` and `flask restore PATH`.

SQLite: the sqlite3 backup API copies the file page by page from inside one read transaction, so
the copy is one consistent snapshot while the app goes on writing (WAL lets writers continue).
PostgreSQL: `pg_dump --format=custom` on a snapshot exported by our own REPEATABLE READ
transaction, in which the row counts are taken too. Either way PATH.json records the backend, the
alembic revision, the row counts of that very snapshot and the file's sha256; restore checks them.

Backups hold mental-health records: they are written with mode 0600, and reading the encrypted
fields after a restore needs the same ENCRYPTION_KEYS as when they were written.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404 - pg_dump and pg_restore, from an argument list, never a shell
import sys
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from app.core.database import SQLITE_BUSY_TIMEOUT_MS
from app.extensions import db

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
RECORD_FORMAT = "common-ground-backup"
# libpq settings a SQLAlchemy URL may carry in its query string, passed to pg_dump by environment.
PG_QUERY_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT"}


class Progress:
    """Progress on stderr: a bar on a terminal; lines when asked (--progress) elsewhere; else quiet."""

    def __init__(self, label: str, show: bool | None):
        on_terminal = sys.stderr.isatty()
        self.mode = "bar" if on_terminal and show is not False else ("lines" if show else "quiet")
        self.label, self._bar, self._pos, self._step, self._item = label, None, 0, -1, None

    def update(self, done: int, total: int, item: str | None = None) -> None:
        total = max(total, 1)
        done = min(done, total)
        if self.mode == "bar":
            if self._bar is None:
                self._bar = click.progressbar(length=total, label=self.label, item_show_func=lambda x: x,
                                              file=sys.stderr)
                self._bar.__enter__()
            self._bar.update(done - self._pos, item)
            self._pos = done
        elif self.mode == "lines":
            if item and item != self._item:
                click.echo(f"  {item}", err=True)
            elif not item and done * 10 // total > self._step:
                click.echo(f"  {self.label}: {done * 100 // total}%", err=True)
            self._item, self._step = item or self._item, max(self._step, done * 10 // total)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


# --- shared helpers ---------------------------------------------------------------------------

def _backend() -> str:
    return db.engine.url.get_backend_name()


def _backend_name(backend: str | None) -> str:
    return BACKENDS.get(backend or "", backend or "unknown")


def _count_sql(quoted_table: str) -> str:
    # The name comes from the database's own catalogue and is quoted by the dialect.
    return "SELECT count(*) FROM " + quoted_table  # nosec B608


def _row_counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per table in the app's schema, as `conn`'s transaction sees them."""
    quote = conn.dialect.identifier_preparer.quote
    return {name: conn.execute(sa.text(_count_sql(quote(name)))).scalar_one()
            for name in sorted(sa.inspect(conn).get_table_names())}


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_counts(con: sqlite3.Connection) -> dict[str, int]:
    names = [row[0] for row in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: con.execute(_count_sql('"' + name.replace('"', '""') + '"')).fetchone()[0] for name in names}


def _sqlite_revision(con: sqlite3.Connection) -> str | None:
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _integrity(con: sqlite3.Connection) -> str:
    return "; ".join(row[0] for row in con.execute("PRAGMA integrity_check"))


def _sqlite_path() -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise click.ClickException("Backup and restore need a SQLite database file, not an in-memory database.")
    return Path(database).resolve()


def _create_private(path: Path) -> None:
    """An empty file only its owner may read: a backup holds mental-health records."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _detect(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    return None


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(current_app.extensions["migrate"].directory).get_current_head()


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory(current_app.extensions["migrate"].directory).walk_revisions()}


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("common-ground")
    except PackageNotFoundError:
        return "unknown"


def _summary(what: str, path: Path, counts: dict[str, int], seconds: float) -> None:
    size = path.stat().st_size
    click.echo(f"{what}: {path} ({size / 1_048_576:.1f} MB, {size} bytes), {len(counts)} tables, "
               f"{sum(counts.values())} rows, {seconds:.1f} s.")


# --- PostgreSQL tools -------------------------------------------------------------------------

def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise click.ClickException(
            f"{name} was not found on PATH. Install the PostgreSQL client tools (the same major version "
            f"as the server or newer, e.g. `apt-get install postgresql-client`) and try again.")
    return found


def _pg_env() -> dict[str, str]:
    """Connection settings for pg_dump / pg_restore, by environment: the password never appears on
    a command line (where `ps` shows it) nor in a message."""
    url = db.engine.url
    env = dict(os.environ)
    for key, variable in PG_QUERY_ENV.items():
        value = url.query.get(key)
        if value:
            env[variable] = value if isinstance(value, str) else value[0]
    if url.host:
        env["PGHOST"] = url.host
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.username:
        env["PGUSER"] = url.username
    if url.password:
        env["PGPASSWORD"] = url.password
    if not url.database:
        raise click.ClickException("The database URL names no database.")
    env["PGDATABASE"] = url.database
    return env


def _run_pg_tool(args: list[str], on_line) -> None:
    """Run pg_dump / pg_restore, feeding each --verbose line to on_line; fail with its own message."""
    tool = Path(args[0]).name
    tail: collections.deque[str] = collections.deque(maxlen=12)
    process = subprocess.Popen(args, env=_pg_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, errors="replace")
    for line in process.stderr:
        line = line.rstrip()
        tail.append(line)
        on_line(line)
    code = process.wait()
    if code != 0:
        errors = [line for line in tail if "error" in line.lower()] or list(tail)
        raise click.ClickException(f"{tool} failed (exit code {code}):\n" + "\n".join(errors[-6:]))


# --- backup -----------------------------------------------------------------------------------

def _backup_sqlite(tmp: Path, progress: Progress, step_pages: int | None) -> dict:
    source = _sqlite_path()
    if not source.is_file():
        raise click.ClickException(f"The database file {source} does not exist.")
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    dst = sqlite3.connect(tmp)
    try:
        # One read transaction around the whole copy: every step reads the same snapshot, and the
        # counts below describe exactly that snapshot (writers go on in the WAL meanwhile).
        src.execute("BEGIN")
        counts, revision = _sqlite_counts(src), _sqlite_revision(src)
        pages = step_pages or max(64, src.execute("PRAGMA page_count").fetchone()[0] // 100)
        src.backup(dst, pages=pages, progress=lambda _status, left, total: progress.update(total - left, total))
        src.execute("COMMIT")
        progress.finish()
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        check = _integrity(dst)
    finally:
        progress.finish()
        dst.close()
        src.close()
    if check != "ok":
        raise click.ClickException(f"The copy failed its integrity check: {check[:500]}")
    click.echo("Integrity check of the copy: ok")
    return {"revision": revision, "tables": counts}


def _backup_postgresql(tmp: Path, progress: Progress) -> dict:
    pg_dump = _pg_tool("pg_dump")
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # pg_dump dumps the snapshot of this transaction, in which the counts are taken too.
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            counts, revision = _row_counts(conn), _revision(conn)
            done = []

            def on_line(line: str) -> None:
                match = re.search(r'dumping contents of table "(?:[^"]*\.)?([^"]+)"', line)
                if match:
                    done.append(match.group(1))
                    item = f"dumping table {match.group(1)} ({len(done)}/{len(counts)})"
                    progress.update(len(done), len(counts), item)

            try:
                _run_pg_tool([pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--verbose",
                              f"--snapshot={snapshot}", f"--file={tmp}"], on_line)
            finally:
                progress.finish()
    with open(tmp, "rb") as handle:
        if not handle.read(len(PG_MAGIC)) == PG_MAGIC:
            raise click.ClickException("pg_dump did not write a custom-format archive.")
    listing = subprocess.run([_pg_tool("pg_restore"), "--list", str(tmp)], env=_pg_env(),
                             capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise click.ClickException(f"The dump cannot be read back: {listing.stderr.strip()[:500]}")
    entries = sum(1 for line in listing.stdout.splitlines() if line.strip() and not line.startswith(";"))
    click.echo(f"Archive check: {entries} entries readable by pg_restore")
    return {"revision": revision, "tables": counts}


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
    click.echo(f"Backing up the {_backend_name(backend)} database to {path} ...")
    tmp, record_tmp = (path.with_name(f".{name}.{os.getpid()}.tmp") for name in (path.name, path.name + ".json"))
    try:
        _create_private(tmp)
        if backend == "sqlite":
            record = _backup_sqlite(tmp, Progress("Copying", progress), step_pages)
        else:
            record = _backup_postgresql(tmp, Progress("Dumping", progress))
        record = {"format": RECORD_FORMAT, "format_version": 1, "backend": backend, "file": path.name,
                  "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "app_version": _app_version(), "revision": record["revision"],
                  "size": tmp.stat().st_size, "sha256": _sha256(tmp),
                  "rows": sum(record["tables"].values()), "tables": record["tables"]}
        _fsync(tmp)
        _create_private(record_tmp)
        record_tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)
        os.replace(record_tmp, _record_path(path))
    finally:
        tmp.unlink(missing_ok=True)
        record_tmp.unlink(missing_ok=True)
    click.echo(f"Alembic revision: {record['revision']}. Record: {_record_path(path)}")
    _summary("Backup written", path, record["tables"], time.monotonic() - started)


# --- restore ----------------------------------------------------------------------------------

def _read_record(path: Path, kind: str) -> dict | None:
    """The record beside the backup, checked against the file; None (with a warning) if absent."""
    record_path = _record_path(path)
    if not record_path.is_file():
        click.echo(f"Warning: no record {record_path.name} beside the backup; row counts will not be compared.",
                   err=True)
        return None
    try:
        record = json.loads(record_path.read_text())
    except ValueError as exc:
        raise click.ClickException(f"{record_path} is not a readable backup record: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise click.ClickException(f"{record_path} is not a Common Ground backup record.")
    if record.get("backend") != kind:
        raise click.ClickException(f"{record_path} describes a {_backend_name(record.get('backend'))} backup, "
                                   f"but {path.name} is a {_backend_name(kind)} file.")
    if record.get("sha256") != _sha256(path):
        raise click.ClickException(f"{path} does not match its record {record_path.name} (sha256 differs): the "
                                   "file is damaged or the record belongs to another backup.")
    return record


def _sqlite_holders(target: Path) -> list[str] | None:
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


def _refuse_if_in_use(backend: str) -> None:
    db.session.remove()
    db.engine.dispose()  # our own pooled connections are not "someone else"
    if backend == "sqlite":
        target = _sqlite_path()
        holders = _sqlite_holders(target)
        if holders is None:
            click.echo("Warning: cannot tell on this system whether another process has the database open; "
                       "make sure the app is stopped.", err=True)
        elif holders:
            raise click.ClickException(f"The database {target} is in use by {', '.join(holders)}. Stop the app "
                                       "(gunicorn) first, then run restore again. Nothing was changed.")
        return
    try:
        with db.engine.connect() as conn:
            others = conn.execute(sa.text(
                "SELECT pid, usename, application_name FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid")).all()
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"Cannot connect to the database: {exc.orig}") from exc
    finally:
        db.engine.dispose()
    if others:
        who = ", ".join(f"pid {row.pid} ({', '.join(filter(None, [row.usename, row.application_name])) or '?'})"
                        for row in others)
        raise click.ClickException(
            f"The database {db.engine.url.database} is in use: {len(others)} other session(s) connected ({who}). "
            "Stop the app (gunicorn) and anything else connected to it first, then run restore again. "
            "Nothing was changed.")


def _restore_sqlite(path: Path, progress: Progress) -> tuple[dict[str, int], str | None]:
    target = _sqlite_path()
    src = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)
    tmp = target.with_name(f".{target.name}.restore-{os.getpid()}.tmp")
    try:
        check = _integrity(src)
        if check != "ok":
            raise click.ClickException(f"The backup is damaged (integrity check: {check[:500]}). "
                                       "Nothing was changed.")
        _create_private(tmp)
        if target.exists():  # keep the owner and mode the app's database file had
            info = target.stat()
            os.chmod(tmp, info.st_mode & 0o777)
            if os.geteuid() == 0:
                os.chown(tmp, info.st_uid, info.st_gid)
        dst = sqlite3.connect(tmp)
        try:
            pages = max(64, src.execute("PRAGMA page_count").fetchone()[0] // 100)
            src.backup(dst, pages=pages, progress=lambda _s, left, total: progress.update(total - left, total))
            progress.finish()
            check = _integrity(dst)
        finally:
            dst.close()
        if check != "ok":
            raise click.ClickException(f"The restored copy failed its integrity check: {check[:500]}. "
                                       "Nothing was changed.")
        _refuse_if_in_use("sqlite")  # again, just before the swap
        if target.exists():
            # Fold the old database's WAL into it and remove it: a stale -wal must never be
            # replayed onto the restored file.
            old = sqlite3.connect(target, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            old.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        progress.finish()
        src.close()
        tmp.unlink(missing_ok=True)
    con = sqlite3.connect(target)
    try:
        check = _integrity(con)
        counts, revision = _sqlite_counts(con), _sqlite_revision(con)
    finally:
        con.close()
    if check != "ok":
        raise click.ClickException(f"The restored database failed its integrity check: {check[:500]}")
    click.echo("Integrity check of the restored database: ok")
    return counts, revision


def _restore_postgresql(path: Path, progress: Progress) -> tuple[dict[str, int], str | None]:
    pg_restore = _pg_tool("pg_restore")
    listing = subprocess.run([pg_restore, "--list", str(path)], env=_pg_env(),
                             capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise click.ClickException(f"{path} cannot be read by pg_restore: {listing.stderr.strip()[:500]}")
    entries = [line for line in listing.stdout.splitlines() if line.strip() and not line.startswith(";")]
    in_backup = {m.group(1) for m in (re.search(r" TABLE \S+ (\S+) ", e) for e in entries) if m}
    data = sum(1 for entry in entries if " TABLE DATA " in entry)
    steps, tables = [0], []

    def on_line(line: str) -> None:
        if re.match(r"pg_restore: (dropping|creating|processing|executing) ", line):
            steps[0] += 1
            match = re.search(r'processing data for table "(?:[^"]*\.)?([^"]+)"', line)
            if match:
                tables.append(match.group(1))
            item = f"restoring table {tables[-1]} ({len(tables)}/{data})" if match else None
            progress.update(steps[0], 2 * len(entries), item)

    try:
        _run_pg_tool([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
                      "--single-transaction", "--exit-on-error", "--verbose",
                      f"--dbname={db.engine.url.database}", str(path)], on_line)
        progress.update(2 * len(entries), 2 * len(entries))  # the step count was an estimate
    finally:
        progress.finish()
    with db.engine.begin() as conn:
        # Tables the backup does not know (made by a later migration) would confuse `flask db upgrade`.
        quote = conn.dialect.identifier_preparer.quote
        for name in sorted(set(sa.inspect(conn).get_table_names()) - in_backup):
            click.echo(f"Dropping table {name}, which is not in the backup.")
            conn.execute(sa.text("DROP TABLE IF EXISTS " + quote(name) + " CASCADE"))
    with db.engine.connect() as conn:
        counts, revision = _row_counts(conn), _revision(conn)
    db.engine.dispose()
    return counts, revision


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
    kind = _detect(path)
    if kind is None:
        raise click.ClickException(f"{path} is not a backup: neither a SQLite database nor a pg_dump archive.")
    if kind != backend:
        raise click.ClickException(
            f"{path} is a {_backend_name(kind)} backup, but the configured database is {_backend_name(backend)}. "
            f"Restore it into a {_backend_name(kind)} database. Nothing was changed.")
    record = _read_record(path, kind)
    revision, head = (record or {}).get("revision"), _head_revision()
    if record and revision != head:
        later = "" if revision in _known_revisions() else " (a revision this version of the code does not know)"
        click.echo(f"Note: the backup is at revision {revision}{later}; this code's migrations end at {head}. "
                   "Run `flask db upgrade` after the restore.", err=True)
    _refuse_if_in_use(backend)
    target = _sqlite_path() if backend == "sqlite" else db.engine.url.database
    if not yes:
        taken = f" taken {record['created_at']}" if record else ""
        click.confirm(f"All data now in {target} will be replaced by the backup {path.name}{taken}. Continue?",
                      abort=True)
    _refuse_if_in_use(backend)
    started = time.monotonic()
    click.echo(f"Restoring {path} into the {_backend_name(backend)} database {target} ...")
    if backend == "sqlite":
        counts, restored_revision = _restore_sqlite(path, Progress("Restoring", progress))
    else:
        counts, restored_revision = _restore_postgresql(path, Progress("Restoring", progress))
    click.echo(f"Alembic revision: {restored_revision}.")
    _report_counts(counts, record)
    _summary("Restored", path, counts, time.monotonic() - started)
