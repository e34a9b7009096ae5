"""Bulk inserts for seed-scale: rows buffered per table, written a chunk at a time, ids assigned here.

SQLAlchemy Core inserts, one transaction per chunk; the column types still run, so answers,
feedback and notes are encrypted at rest. Ids are handed out here (after the highest one in use)
so children can point at their parents without a round trip; on PostgreSQL each sequence is then
moved past them.
"""
from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app.extensions import db

CHUNK_ROWS = 5_000
# Parents before children: a flush writes every buffer in this order.
TABLES = ("users", "pairs", "pair_members", "pair_exercises", "assignments", "reflections",
          "feedback", "therapy_sessions", "session_notes", "clinical_notes", "agenda_items",
          "notifications")


class Writer:
    """Buffers rows per table, hands out primary keys, and writes every buffer (parents first)
    in one transaction once any buffer holds a chunk."""

    def __init__(self, chunk: int, on_write=None):
        self.chunk = chunk
        self.on_write = on_write or (lambda table, rows: None)
        self.tables = {name: db.metadata.tables[name] for name in TABLES}
        self.buffers: dict[str, list[dict]] = {name: [] for name in TABLES}
        self.counts: Counter = Counter()
        self.postgres = db.session.get_bind().dialect.name == "postgresql"
        self.next_ids = {name: self._first_free_id(name) for name in TABLES}

    def _first_free_id(self, name: str) -> int:
        top = db.session.scalar(sa.select(sa.func.max(self.tables[name].c.id))) or 0
        if self.postgres:  # never reuse an id the sequence already handed out
            sequence = db.session.scalar(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                         {"t": name})
            if sequence:  # NULL until the sequence has handed out a value
                last = db.session.scalar(sa.select(sa.func.pg_sequence_last_value(
                    sa.cast(sequence, postgresql.REGCLASS))))
                top = max(top, last or 0)
        return top + 1

    def new_id(self, name: str) -> int:
        """The next id for a row of `name`, for a row written later (its children need it now)."""
        value = self.next_ids[name]
        self.next_ids[name] = value + 1
        return value

    def add(self, name: str, row: dict) -> int:
        """Queue a row; gives it the next id unless it has one. Returns the id."""
        if "id" not in row:
            row = {"id": self.new_id(name), **row}
        self.buffers[name].append(row)
        if len(self.buffers[name]) >= self.chunk:
            self.flush()
        return row["id"]

    def flush(self) -> None:
        """Write every buffer, parents first, and commit."""
        for name in TABLES:
            rows = self.buffers[name]
            if rows:
                db.session.execute(sa.insert(self.tables[name]), rows)
                self.counts[name] += len(rows)
                self.buffers[name] = []
                self.on_write(name, len(rows))
        db.session.commit()

    def reset_sequences(self) -> None:
        """PostgreSQL: move each sequence past the ids written here, or the app's next insert
        would collide with them."""
        if not self.postgres:
            return
        for name in TABLES:
            table = self.tables[name]
            db.session.execute(sa.select(sa.func.setval(
                sa.func.pg_get_serial_sequence(name, "id"),
                sa.select(sa.func.max(table.c.id)).scalar_subquery())))
        db.session.commit()
