"""PostgreSQL backup and restore with pg_dump / pg_restore, on a snapshot of our own transaction.

`pg_dump --format=custom` dumps the snapshot exported by a REPEATABLE READ transaction of ours, in
which the row counts are taken too. The password reaches the tools by environment, never argv.
Restore reads the archive's data through `pg_restore --data-only` first (rows, every encrypted
value) and only then restores it, in a single transaction.
"""
from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess  # nosec B404 - pg_dump and pg_restore, from an argument list, never a shell
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa

from app.extensions import db
from app.ops.backup_files import PG_MAGIC
from app.ops.backup_format import Refused
from app.ops.backup_progress import Progress
from app.ops.backup_record import alembic_revision, row_counts
from app.ops.backup_verify import Values, check_copy_data

# libpq settings a SQLAlchemy URL may carry in its query string, passed to pg_dump by environment.
PG_QUERY_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT"}


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
        raise click.ClickException(f"{tool} failed (exit code {code}): " + " | ".join(errors[-3:]))


def take_backup(tmp: Path, progress: Progress) -> dict:
    """Dump the database into `tmp`; returns the snapshot's revision and row counts."""
    pg_dump = _pg_tool("pg_dump")
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # pg_dump dumps the snapshot of this transaction, in which the counts are taken too.
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            counts, revision = row_counts(conn), alembic_revision(conn)
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
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
    # Read the whole archive back: every row is there, and the key ids of its encrypted values.
    values = Values(None, "The dump")
    try:
        entries, (found, _) = check_archive(tmp, values, schema)
    except Refused as exc:
        raise click.ClickException(f"The dump cannot be read back: {exc.reason}") from None
    if found != counts:
        raise click.ClickException("The dump does not hold the rows of the snapshot it was taken from.")
    click.echo(f"Archive check: {entries} entries and every row readable by pg_restore")
    return {"revision": revision, "tables": counts, "key_ids": sorted(values.key_ids),
            "encrypted_values": values.total}


def _first_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no message")[:300]


def app_schema() -> str:
    """The schema the app's tables live in (the first of the search path, normally public)."""
    try:
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    finally:
        db.engine.dispose()


def check_archive(archive: Path, values: Values, schema: str) -> tuple[int, tuple[dict[str, int], str | None]]:
    """Read a custom-format archive through pg_restore (no database involved): its entries, then
    every row of its data in `schema`, each encrypted value checked; returns the number of
    entries, the rows per table and the alembic revision. A damaged archive is refused (Refused)."""
    pg_restore = _pg_tool("pg_restore")
    env = dict(os.environ)  # no connection settings: reading an archive needs no database
    listing = subprocess.run([pg_restore, "--list", str(archive)], env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, errors="replace", check=False)
    if listing.returncode != 0:
        raise Refused(f"pg_restore cannot read the backup's archive ({_first_error(listing.stderr)}).")
    entries = sum(1 for line in listing.stdout.splitlines() if line.strip() and not line.startswith(";"))
    with tempfile.TemporaryFile(mode="w+", errors="replace") as errors:
        process = subprocess.Popen([pg_restore, "--data-only", "--file=-", str(archive)], env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                                   text=True, errors="replace")
        try:
            found = check_copy_data(process.stdout, values, schema)
        finally:
            if process.poll() is None and process.stdout and not process.stdout.closed:
                process.stdout.close()
            if process.poll() is None:
                process.kill()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            raise Refused(f"pg_restore cannot read the backup's data ({_first_error(errors.read())}).")
    return entries, found


def refuse_if_in_use() -> None:
    """Stop with a message if another session is connected to the database."""
    db.session.remove()
    db.engine.dispose()  # our own pooled connections are not "someone else"
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


def restore(path: Path, progress: Progress) -> tuple[dict[str, int], str | None]:
    """Replace everything in the database with the (already checked) archive at `path`, in one
    transaction; returns row counts and revision."""
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
        counts, revision = row_counts(conn), alembic_revision(conn)
    db.engine.dispose()
    return counts, revision
