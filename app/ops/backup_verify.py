"""Every encrypted value of a backup, read from the backup's own copy before anything is replaced.

Backup uses it to note which key ids the copy's values were written with (the manifest carries
them); restore uses it to decrypt every value (crypto.encrypted_columns) with the configured keys,
and to count the copy's rows, in the staged SQLite file or in the pg_dump archive's data.
"""
from __future__ import annotations

import collections
import re
import sqlite3
from collections.abc import Iterable, Iterator

from app.core.crypto import PREFIX, DecryptionError, KeyRing, encrypted_columns, is_encrypted
from app.extensions import db
from app.ops.backup_format import Refused


def columns() -> dict[str, tuple[str, list[str]]]:
    """{table: (primary key column, [encrypted columns])} of the models."""
    found: dict[str, tuple[str, list[str]]] = {}
    for column in encrypted_columns(db.metadata):
        key = next(iter(column.table.primary_key.columns)).name
        found.setdefault(column.table.name, (key, []))[1].append(column.name)
    return found


class Values:
    """The encrypted values met in a backup: their key ids counted and, given keys, each decrypted."""

    def __init__(self, ring: KeyRing | None, label: str):
        self.ring, self.label = ring, label
        self.key_ids: collections.Counter[str] = collections.Counter()

    @property
    def total(self) -> int:
        return sum(self.key_ids.values())

    def check(self, table: str, column: str, row_key, value) -> None:
        if not isinstance(value, str) or not is_encrypted(value):
            return  # NULL, or plain text from before encryption (the app reads it as it is)
        self.key_ids[value[len(PREFIX):].partition(":")[0]] += 1
        if self.ring is None:
            return
        try:
            self.ring.decrypt(value)
        except DecryptionError as exc:
            raise Refused(f"{self.label} cannot be restored: {table}.{column} of row {row_key} does not decrypt "
                          f"with the configured keys ({exc}). The backup is damaged, or ENCRYPTION_KEYS lacks "
                          "the key it was written with.") from None


def check_sqlite(con: sqlite3.Connection, values: Values) -> None:
    """Every encrypted column the SQLite copy has, value by value."""
    present = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, (key, names) in columns().items():
        if table not in present:
            continue
        have = {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}
        for column in (c for c in names if c in have):
            # Names from the models (crypto.encrypted_columns), quoted; never from the backup.
            query = f'SELECT "{key}", "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'  # nosec B608
            for row_key, value in con.execute(query):
                values.check(table, column, row_key, value)


# --- pg_dump archives: the data as `pg_restore --data-only` prints it ---------------------------

COPY_LINE = re.compile(r"^COPY (?P<table>\S+) \((?P<columns>.*)\) FROM stdin;$")
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))")
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _names(quoted: str) -> list[str]:
    """The parts of an identifier of a COPY line ("public.users", public."order"), unquoted."""
    return [a.replace('""', '"') if a else b for a, b in re.findall(r'"((?:[^"]|"")*)"|([^."]+)', quoted)]


def _name(quoted: str) -> str:
    return _names(quoted)[-1]


def _field(text: str):
    """One field of COPY's text format: NULL, or the text with its backslash escapes undone."""
    if text == "\\N":
        return None
    if "\\" not in text:
        return text

    def undo(match: re.Match) -> str:
        if match.group(1):
            return chr(int(match.group(1), 8))
        if match.group(2):
            return chr(int(match.group(2), 16))
        return _SIMPLE.get(match.group(3), match.group(3))

    return _ESCAPE.sub(undo, text)


def check_copy_data(lines: Iterable[str], values: Values, schema: str) -> tuple[dict[str, int], str | None]:
    """Rows per table of the app's `schema` and the alembic revision, from pg_restore's
    data-only script, every encrypted value checked on the way (tables of other schemas are
    read past)."""
    wanted = columns()
    counts: dict[str, int] = {}
    revision = None
    stream: Iterator[str] = iter(lines)
    for line in stream:
        match = COPY_LINE.match(line.rstrip("\n"))
        if not match:
            continue
        *qualifier, table = _names(match.group("table"))
        ours = not qualifier or qualifier[-1] == schema
        names = [_name(n.strip()) for n in match.group("columns").split(",")]
        key, encrypted = wanted.get(table, (None, [])) if ours else (None, [])
        positions = [(names.index(c), c) for c in encrypted if c in names]
        key_at = names.index(key) if key in names else None
        rows = 0
        for row in stream:
            row = row.rstrip("\n")
            if row == "\\.":
                break
            rows += 1
            fields = row.split("\t")
            if len(fields) != len(names):
                raise Refused(f"The data of table {table} in the backup is damaged (row {rows} has "
                              f"{len(fields)} fields, not {len(names)}).")
            for at, column in positions:
                values.check(table, column, _field(fields[key_at]) if key_at is not None else rows,
                             _field(fields[at]))
            if ours and table == "alembic_version" and "version_num" in names:
                revision = _field(fields[names.index("version_num")])
        else:
            raise Refused(f"The data of table {table} in the backup ends before its last row (truncated).")
        if ours:
            counts[table] = rows
    return counts, revision
