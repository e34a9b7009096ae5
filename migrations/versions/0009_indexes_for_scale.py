"""indexes for practice-scale data, and fresh planner statistics

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

Found with `flask seed-scale` (100,000 tasks and reflections) and EXPLAIN on the key pages:

- reflections (author_id, status, submitted_at): a client's ratings over time. Without it, the
  pair page's chart and the caseload's sparklines read every sent reflection of the practice
  (SQLite picked the review-queue index on status alone): 1 s on the pair page, now < 1 ms.
- assignments (client_id, due_date): one client's tasks newest due first, for her page.
- The review queue index (status, reviewed_at, urgent, submitted_at) goes: SQLite's statistics
  cannot see that "reviewed_at IS NULL" matches every unreviewed reflection of the *practice*,
  so it walked them all for one therapist's queue (3x slower at 10x the data). Without it the
  queue is found through her clients: reflections (author_id, status, reviewed_at, urgent,
  submitted_at, deleted_at, assignment_id) answers each client's unreviewed reflections from the
  index alone, whatever the practice's size.
- reflections.deleted_at is indexed only where it is set (a partial index): the purge looks up
  the few deleted rows; with a full index, a planner without statistics could walk every live
  row through it for "deleted_at IS NULL".

ANALYZE refreshes the planners' statistics (SQLite keeps none until asked; PostgreSQL's
autovacuum would get there later), so that the new indexes are chosen at once.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {}  # only indexes


def upgrade():
    op.create_index('ix_reflections_author_status_submitted', 'reflections',
                    ['author_id', 'status', 'submitted_at'], unique=False)
    op.create_index('ix_assignments_client_due', 'assignments', ['client_id', 'due_date'], unique=False)
    op.drop_index('ix_reflections_review_queue', table_name='reflections')
    op.create_index('ix_reflections_review_state', 'reflections',
                    ['assignment_id', 'status', 'reviewed_at', 'urgent', 'submitted_at', 'deleted_at'],
                    unique=False)
    op.create_index('ix_reflections_author_review', 'reflections',
                    ['author_id', 'status', 'reviewed_at', 'urgent', 'submitted_at', 'deleted_at',
                     'assignment_id'], unique=False)
    op.drop_index('ix_reflections_deleted_at', table_name='reflections')
    op.create_index('ix_reflections_deleted_at', 'reflections', ['deleted_at'], unique=False,
                    sqlite_where=sa.text('deleted_at IS NOT NULL'),
                    postgresql_where=sa.text('deleted_at IS NOT NULL'))
    op.execute('ANALYZE')


def downgrade():
    op.drop_index('ix_reflections_deleted_at', table_name='reflections')
    op.create_index('ix_reflections_deleted_at', 'reflections', ['deleted_at'], unique=False)
    op.create_index('ix_reflections_review_queue', 'reflections',
                    ['status', 'reviewed_at', 'urgent', 'submitted_at'], unique=False)
    op.drop_index('ix_reflections_author_review', table_name='reflections')
    op.drop_index('ix_reflections_review_state', table_name='reflections')
    op.drop_index('ix_assignments_client_due', table_name='assignments')
    op.drop_index('ix_reflections_author_status_submitted', table_name='reflections')
