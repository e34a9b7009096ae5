"""soft delete of tasks and reflections

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Adds `deleted_at` and `deleted_by_id` to `assignments` and `reflections`: a therapist's deleted
task or reflection is hidden everywhere, restorable for 30 days, then removed by
`flask purge-deleted`.

On SQLite the columns are added with plain ALTER TABLE (the foreign key as a column constraint)
and dropped the same way: a batch rebuild would drop the old table, and with foreign keys on
that deletes every reflection, feedback and reminder that cascades from it. The foreign key has
no ON DELETE action: SQLite's inline form cannot be read back with one (the schema test would
see a difference), and none is needed: the person who deleted is always the task's therapist,
and deleting her account cascades the task (and its reflection) away first.

Downgrade keeps every row: tasks and reflections still in "Recently deleted" simply become
visible again (nothing is lost; the therapist can delete them again after upgrading).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "the bin: every deleted task and reflection comes back into view, its client's included",
    "columns": [("reflections", "deleted_at"), ("reflections", "deleted_by_id"),
                ("assignments", "deleted_at"), ("assignments", "deleted_by_id")],
}


def upgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in ('assignments', 'reflections'):
        fk_name = f'fk_{table}_deleted_by_id_users'
        if sqlite:
            op.execute(f'ALTER TABLE {table} ADD COLUMN deleted_at DATETIME')
            op.execute(f'ALTER TABLE {table} ADD COLUMN deleted_by_id INTEGER '
                       'REFERENCES users (id)')
        else:
            op.add_column(table, sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
            op.add_column(table, sa.Column('deleted_by_id', sa.Integer(), nullable=True))
            op.create_foreign_key(fk_name, table, 'users', ['deleted_by_id'], ['id'])
    op.create_index('ix_assignments_deleted', 'assignments', ['therapist_id', 'deleted_at'], unique=False)
    op.create_index(op.f('ix_reflections_deleted_at'), 'reflections', ['deleted_at'], unique=False)


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.drop_index(op.f('ix_reflections_deleted_at'), table_name='reflections')
    op.drop_index('ix_assignments_deleted', table_name='assignments')
    for table in ('reflections', 'assignments'):
        if not sqlite:
            op.drop_constraint(f'fk_{table}_deleted_by_id_users', table, type_='foreignkey')
        # Plain DROP COLUMN (SQLite 3.35+), never a batch rebuild: see the module docstring.
        op.drop_column(table, 'deleted_by_id')
        op.drop_column(table, 'deleted_at')
