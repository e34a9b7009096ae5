"""`flask rotate-key`: every encrypted value moved under the current (first) key of
ENCRYPTION_KEYS, in batches, beside the running app.

It reads and writes the stored values themselves (no column type in between), so a value the
configured keys cannot decrypt is never turned into its placeholder: it is skipped, left exactly
as it is, and reported (table, column, row id, error id), and the command ends with exit status 1.
Before anything, the keys are checked against the data (app/core/key_check.py): rotating to a
key that other servers of the practice do not have would make everything unreadable to them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import click
import sqlalchemy as sa

from app.core.crypto import DecryptionError, KeyRing, encrypted_columns, error_id, keyring


@dataclass(frozen=True)
class SkippedValue:
    """A stored value rotation could not decrypt, and so left alone."""

    column: str  # "table.column"
    row_id: int
    error_id: str
    reason: str


@dataclass
class Rotation:
    changed: int = 0
    current: int = 0
    skipped: list[SkippedValue] = field(default_factory=list)


def rotate(metadata: sa.MetaData, engine: sa.Engine, ring: KeyRing, batch_size: int = 500,
           dry_run: bool = False, echo=click.echo) -> Rotation:
    """Re-encrypt every value not under the current key; values that do not decrypt are skipped
    and listed. Works in batches of primary keys, one transaction each, so it can run beside
    the app and be run again after an interruption."""
    done_all = Rotation()
    for column in encrypted_columns(metadata):
        table = column.table
        (pk,) = table.primary_key.columns
        raw = sa.table(table.name, sa.column(pk.name, sa.Integer), sa.column(column.name, sa.Text))
        raw_pk, raw_value = raw.c[pk.name], raw.c[column.name]
        where = f"{table.name}.{column.name}"
        with engine.connect() as conn:
            total = conn.scalar(sa.select(sa.func.count()).select_from(raw).where(raw_value.is_not(None)))
        done = col_changed = col_skipped = 0
        last = None
        while True:
            with engine.begin() as conn:
                # An empty optional column (NULL) holds nothing to re-encrypt.
                query = (sa.select(raw_pk, raw_value).where(raw_value.is_not(None))
                         .order_by(raw_pk).limit(batch_size))
                if last is not None:
                    query = query.where(raw_pk > last)
                rows = conn.execute(query).all()
                if not rows:
                    break
                last = rows[-1][0]
                stale = [(row_id, value) for row_id, value in rows if not ring.is_current(value)]
                # Decrypt even in a dry run: it proves that every old key is still configured.
                updates = []
                for row_id, value in stale:
                    try:
                        updates.append({"row_id": row_id, "old": value,
                                        "new": ring.encrypt(ring.decrypt(value))})
                    except DecryptionError as exc:
                        skipped = SkippedValue(where, row_id, error_id(value), str(exc))
                        done_all.skipped.append(skipped)
                        col_skipped += 1
                        echo(f"  skipped {where} id {row_id} (error {skipped.error_id}): {exc}")
                if updates and not dry_run:
                    # Compare-and-set on the old value: a row the app rewrote meanwhile (already
                    # under the current key) is left alone.
                    conn.execute(
                        raw.update().where(raw_pk == sa.bindparam("row_id"),
                                           raw_value == sa.bindparam("old"))
                        .values({column.name: sa.bindparam("new")}), updates)
                done += len(rows)
                col_changed += len(updates)
                done_all.current += len(rows) - len(stale)
            echo(f"  {where}: {done}/{total} rows checked, "
                 f"{col_changed} {'to re-encrypt' if dry_run else 're-encrypted'}"
                 + (f", {col_skipped} cannot be read (left as they are)" if col_skipped else ""))
        done_all.changed += col_changed
    return done_all


@click.command("rotate-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--dry-run", is_flag=True, help="Only count the values not under the current key.")
def rotate_key_command(batch_size: int, dry_run: bool):
    """Re-encrypt every encrypted value with the current (first) key of ENCRYPTION_KEYS."""
    from app.core.key_check import check_keys
    from app.extensions import db

    ring = keyring()
    # A real run writes the current key's check value first, when the database lacks it: every
    # value it re-encrypts is then under a key that a server with other keys refuses to start on.
    checked = check_keys(db.engine, db.metadata, ring, write=not dry_run)
    if not checked.checked:
        raise click.ClickException("the database has no key_checks table: run "
                                   "`flask --app wsgi db upgrade` first. Nothing was re-encrypted.")
    if checked.problem:
        raise click.ClickException(f"{checked.problem}. Nothing was re-encrypted.")
    click.echo(f"{'Checking' if dry_run else 'Re-encrypting'} with current key {ring.current_id!r}")
    result = rotate(db.metadata, db.engine, ring, batch_size=batch_size, dry_run=dry_run)
    unread = len(result.skipped)
    if dry_run:
        click.echo(f"{result.changed} values would be re-encrypted; {result.current} are already "
                   "current" + (f"; {unread} cannot be read." if unread else "."))
    else:
        click.echo(f"Done: {result.changed} values re-encrypted, {result.current} were already "
                   "current" + (f", {unread} could not be read." if unread else ". Keys other than "
                                "the first can now be removed from ENCRYPTION_KEYS."))
    if unread:
        raise click.ClickException(
            f"{unread} value(s) could not be decrypted and were left exactly as they are (listed "
            "above): add the key that wrote them to ENCRYPTION_KEYS, after the current one, and run "
            "rotate-key again. Keep every old key until `flask verify-data` reads everything.")
