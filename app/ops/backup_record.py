"""The manifest inside a backup, and the record PATH.json beside it.

The manifest (backup_format.py writes it into the file) holds the backend, the alembic revision,
the row counts of the snapshot, the key ids of its encrypted values and the sha256 of the data.
The record beside the file repeats it, with the whole file's size and sha256. Restore checks the
file against both when both are there, against the manifest alone when the record is missing.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click
import sqlalchemy as sa

from app.ops.backup_files import create_private, sha256

BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
RECORD_FORMAT = "common-ground-backup"


def backend_name(backend: str | None) -> str:
    """The backend as a person names it ("PostgreSQL"), for messages."""
    return BACKENDS.get(backend or "", backend or "unknown")


def record_path(path: Path) -> Path:
    """Where the record of the backup at `path` lives: PATH.json."""
    return path.with_name(path.name + ".json")


def count_sql(quoted_table: str) -> str:
    """The query counting one table's rows."""
    # The name comes from the database's own catalogue and is quoted by the dialect.
    return "SELECT count(*) FROM " + quoted_table  # nosec B608


def row_counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per table in the app's schema, as `conn`'s transaction sees them."""
    quote = conn.dialect.identifier_preparer.quote
    return {name: conn.execute(sa.text(count_sql(quote(name)))).scalar_one()
            for name in sorted(sa.inspect(conn).get_table_names())}


def alembic_revision(conn: sa.Connection) -> str | None:
    """The alembic revision `conn` sees; None in a database without migrations."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("common-ground")
    except PackageNotFoundError:
        return "unknown"


def manifest_of(backend: str, snapshot: dict) -> dict:
    """The manifest of a snapshot (backup_format.write adds the data's size and sha256)."""
    return {"format": RECORD_FORMAT, "format_version": 2, "backend": backend,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "app_version": _app_version(), "revision": snapshot["revision"],
            "rows": sum(snapshot["tables"].values()), "tables": snapshot["tables"],
            "key_ids": snapshot["key_ids"], "encrypted_values": snapshot["encrypted_values"]}


def describe(path: Path, written: Path, manifest: dict) -> dict:
    """The record of the file `written` (to be renamed to `path`): its manifest, name, size and sha256."""
    return {**manifest, "file": path.name, "size": written.stat().st_size, "sha256": sha256(written)}


def write_record(path: Path, record: dict) -> None:
    """Write the record to `path`, readable only by its owner like the backup it describes."""
    create_private(path)
    path.write_text(json.dumps(record, indent=2) + "\n")


def read_record(path: Path, kind: str, self_checking: bool) -> dict | None:
    """The record beside the backup, checked against the file; None (saying so) if absent."""
    record_file = record_path(path)
    if not record_file.is_file():
        click.echo(f"No record {record_file.name} beside the backup: " + (
            "checking it against the checksum and row counts inside it." if self_checking
            else "its row counts cannot be compared."))
        return None
    try:
        record = json.loads(record_file.read_text())
    except ValueError as exc:
        raise click.ClickException(f"{record_file} is not a readable backup record: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise click.ClickException(f"{record_file} is not a Common Ground backup record.")
    if record.get("backend") != kind:
        raise click.ClickException(f"{record_file} describes a {backend_name(record.get('backend'))} backup, "
                                   f"but {path.name} is a {backend_name(kind)} file.")
    if record.get("sha256") != sha256(path):
        raise click.ClickException(f"{path} does not match its record {record_file.name} (sha256 differs): the "
                                   "file is damaged or the record belongs to another backup.")
    return record
