"""`flask verify-data`: every encrypted value of every row, decrypted with the configured keys.

Reports, per table and column, how many values there are, under which key ids they can be read,
how many are legacy plain text, and the row ids of those that cannot be read, each with the error
id its pages show in place of the text. Exits with status 1 when any value cannot be read. Reads
the stored values in batches of primary keys and writes nothing, so it can run beside the app.
Run it after changing ENCRYPTION_KEYS, before removing an old key, and after restoring a backup.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from app.core.crypto import (
    PREFIX,
    DecryptionError,
    EncryptedJSON,
    KeyRing,
    encrypted_columns,
    error_id,
    is_encrypted,
    keyring,
)


@dataclass
class ColumnReport:
    column: str  # "table.column"
    values: int = 0  # not NULL
    plain: int = 0  # legacy plain text, read as it is
    by_key: Counter = field(default_factory=Counter)  # readable values by the key id that wrote them
    unreadable: list[tuple[int, str, str]] = field(default_factory=list)  # (row id, error id, why)


def _read(ring: KeyRing, value: str, holds_json: bool) -> None:
    """Raises DecryptionError (or ValueError: not the JSON the column holds) when unreadable."""
    text = ring.decrypt(value)
    if holds_json:
        json.loads(text)


def verify(metadata: sa.MetaData, engine: sa.Engine, ring: KeyRing,
           batch_size: int = 500) -> list[ColumnReport]:
    """One report per encrypted column of the tables the database has."""
    reports = []
    present = set(sa.inspect(engine).get_table_names())
    for column in encrypted_columns(metadata):
        table = column.table
        if table.name not in present:
            continue
        (pk,) = table.primary_key.columns
        raw = sa.table(table.name, sa.column(pk.name, sa.Integer), sa.column(column.name, sa.Text))
        raw_pk, raw_value = raw.c[pk.name], raw.c[column.name]
        report = ColumnReport(f"{table.name}.{column.name}")
        holds_json = isinstance(column.type, EncryptedJSON)
        last = None
        while True:
            with engine.connect() as conn:
                query = (sa.select(raw_pk, raw_value).where(raw_value.is_not(None))
                         .order_by(raw_pk).limit(batch_size))
                if last is not None:
                    query = query.where(raw_pk > last)
                rows = conn.execute(query).all()
            if not rows:
                break
            last = rows[-1][0]
            for row_id, value in rows:
                report.values += 1
                try:
                    _read(ring, value, holds_json)
                except (DecryptionError, ValueError) as exc:
                    report.unreadable.append((row_id, error_id(value), str(exc)))
                    continue
                if is_encrypted(value):
                    report.by_key[value[len(PREFIX):].partition(":")[0]] += 1
                else:
                    report.plain += 1
        reports.append(report)
    return reports


def _summary(report: ColumnReport) -> str:
    readable = sum(report.by_key.values())
    keys = ", ".join(f"{key_id}: {n}" for key_id, n in sorted(report.by_key.items()))
    return (f"  {report.column}: {report.values} values: {readable} readable"
            + (f" ({keys})" if keys else "") + f", {report.plain} plain text, "
            f"{len(report.unreadable)} cannot be read")


@click.command("verify-data")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@with_appcontext
def verify_data_command(batch_size: int):
    """Decrypt every encrypted value; list the rows that cannot be read (exit 1 if any)."""
    from app.core.key_check import check_keys
    from app.extensions import db

    ring = keyring()
    checked = check_keys(db.engine, db.metadata, ring)
    if checked.problem:
        click.secho(f"Key check: {checked.problem}.", fg="red", bold=True)
    elif checked.verified:
        click.echo(f"Key check: ENCRYPTION_KEYS opens what is stored under "
                   f"{', '.join(map(repr, checked.verified))}.")
    click.echo(f"Reading every encrypted value with {len(ring.keys)} key(s): "
               f"{', '.join(repr(key_id) for key_id, _ in ring.keys)}")
    reports = verify(db.metadata, db.engine, ring, batch_size=batch_size)
    for report in reports:
        click.echo(_summary(report))
        for row_id, error, reason in report.unreadable:
            click.echo(f"    cannot be read: id {row_id} (error {error}): {reason}")
    unreadable = sum(len(r.unreadable) for r in reports)
    total = sum(r.values for r in reports)
    if unreadable:
        columns = sum(1 for r in reports if r.unreadable)
        click.secho(f"\nverify-data: {unreadable} of {total} values, in {columns} column(s), cannot "
                    "be read with these keys (listed above). Their pages show \"This text cannot "
                    "be read\" with the error id; add the key that wrote them to ENCRYPTION_KEYS, "
                    "after the current one, to read them again.", fg="red", bold=True, err=True)
        raise SystemExit(1)
    click.echo(f"\nverify-data: all {total} values can be read.")
