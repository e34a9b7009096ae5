"""the audit trail is append-only in the database, not only in the code

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Triggers on audit_events refuse, on PostgreSQL and on SQLite alike:
- every DELETE of a row (and on PostgreSQL every TRUNCATE, which row triggers do not see);
- every UPDATE, with one exception: actor_id or subject_id may become NULL once the user it
  named no longer exists. That is the foreign keys' ON DELETE SET NULL at work (0001): deleting a
  user (the app never does; tests and a seed's repair do) updates her audit rows, and refusing
  it would make any user with audit rows undeletable. The exception cannot be used to unlink a
  living person from a row: the user must already be gone (inside the cascade she is, on both
  engines). Everything else in the row, including every column a later revision adds, stays.

An UPDATE that changes nothing is let through (nothing changes). Inserting is untouched, but on
SQLite an insert may not take an existing row's id (INSERT OR REPLACE would delete that row
without firing the DELETE trigger); PostgreSQL has no REPLACE, and its upsert fires the UPDATE one.

The errors: SQLite RAISE(ABORT) is SQLITE_CONSTRAINT and PostgreSQL's SQLSTATE 23001
(restrict_violation) is an integrity error, so SQLAlchemy raises IntegrityError on both.

What else still works, and why: backup restore replaces the SQLite file whole, and on PostgreSQL
pg_restore --clean DROPs the table (DROP fires no row trigger) before loading rows with COPY (an
insert) and creates the triggers after its data. DROP TABLE on SQLite fires no trigger either.
The test suite empties the table between tests by lifting the triggers for that one transaction
(tests/conftest.py); nothing in the schema lets the app do it.

For later revisions: the rows can only be changed by dropping these triggers first (and making
them again). On SQLite a batch_alter_table rebuild of audit_events drops them silently: make them
again in the same revision (tests/test_audit_append_only.py checks they exist at the head). On
SQLite the UPDATE trigger names the columns, so a column added to audit_events must be added to
it; on PostgreSQL the function compares whole rows and needs no change.
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {}  # only the triggers that keep the audit trail append-only

MESSAGE = 'audit_events is append-only'

# --- PostgreSQL: one function for the row triggers (UPDATE, DELETE) and the TRUNCATE one --------

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unlinked record;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- The row as it would be if only the links to users had changed: it must equal OLD.
        unlinked := NEW;
        unlinked.actor_id := OLD.actor_id;
        unlinked.subject_id := OLD.subject_id;
        IF unlinked IS NOT DISTINCT FROM OLD
           -- ON DELETE SET NULL: a link may only become NULL, and only once its user is gone.
           AND (NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
                OR (NEW.actor_id IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.actor_id)))
           AND (NEW.subject_id IS NOT DISTINCT FROM OLD.subject_id
                OR (NEW.subject_id IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.subject_id)))
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END
$$
"""

PG_TRIGGERS = {
    'audit_events_no_update': 'BEFORE UPDATE ON audit_events FOR EACH ROW',
    'audit_events_no_delete': 'BEFORE DELETE ON audit_events FOR EACH ROW',
    # Row triggers do not see a TRUNCATE, which would empty the whole trail at once.
    'audit_events_no_truncate': 'BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT',
}

# --- SQLite: the same rules, column by column ---------------------------------------------------

SQLITE_UPDATE_ALLOWED = """
    NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.action IS OLD.action
    AND NEW.object_type IS OLD.object_type AND NEW.object_id IS OLD.object_id AND NEW.ip IS OLD.ip
    -- ON DELETE SET NULL: a link may only become NULL, and only once its user is gone.
    AND (NEW.actor_id IS OLD.actor_id
         OR (NEW.actor_id IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = OLD.actor_id)))
    AND (NEW.subject_id IS OLD.subject_id
         OR (NEW.subject_id IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = OLD.subject_id)))
"""

SQLITE_TRIGGERS = {
    'audit_events_no_update': f"""
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
FOR EACH ROW WHEN NOT ({SQLITE_UPDATE_ALLOWED})
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused');
END
""",
    'audit_events_no_delete': f"""
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused');
END
""",
    # INSERT OR REPLACE deletes the row it collides with, and fires no DELETE trigger while
    # recursive_triggers is off (the default): an insert may never name an id already taken.
    'audit_events_no_replace': f"""
CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
FOR EACH ROW WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}: REPLACE refused');
END
""",
}


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        # OR REPLACE: a pg_restore of a backup older than this revision drops the table (and its
        # triggers) but leaves the function; `flask db upgrade` then runs this again.
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS.items():
            op.execute(f'DROP TRIGGER IF EXISTS {name} ON audit_events')
            op.execute(f'CREATE TRIGGER {name} {when} EXECUTE FUNCTION audit_events_append_only()')
    elif dialect == 'sqlite':
        for name, sql in SQLITE_TRIGGERS.items():
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
            op.execute(sql)
    else:
        raise NotImplementedError(f'0013: no append-only triggers for {dialect}')


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        for name in reversed(list(PG_TRIGGERS)):
            op.execute(f'DROP TRIGGER IF EXISTS {name} ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS audit_events_append_only()')
    elif dialect == 'sqlite':
        for name in reversed(list(SQLITE_TRIGGERS)):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
