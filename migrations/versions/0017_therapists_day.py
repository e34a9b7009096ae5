"""the therapist's day: sessions scheduled ahead, a calendar feed, note drafts and templates,
the library's descriptions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

Issue 18. Sessions get a place or video link (encrypted) and can be cancelled; a therapist gets a
calendar feed at a secret address (only its SHA-256 is kept) that shows initials unless she chooses
names. Session notes save themselves as drafts only their author reads (note_drafts, encrypted).
Clinical notes keep the template they were written on and its sections (encrypted); a therapist's
own templates are rows of note_templates (the built-in ones are code). Exercises get a description
and a typical length for the library.
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades"). Fill it in:
# {"loses": "in a few words", "tables": [...], "columns": [("table", "column"), ...]}, or {} when
# the downgrade drops nothing. Left at None, the revision cannot be downgraded without
# `-x allow-data-loss=yes`, and tests/test_downgrades_ask.py fails.
DOWNGRADE_DROPS = {
    "loses": "session notes typed but not yet saved, therapists' own note templates, the template "
             "and sections of clinical notes, sessions' places and cancellations, calendar "
             "subscriptions, and exercises' descriptions and typical lengths",
    "tables": ["note_drafts", "note_templates"],
    "columns": [("clinical_notes", "template_name"), ("clinical_notes", "sections"),
                ("clinical_note_revisions", "template_name"), ("clinical_note_revisions", "sections"),
                ("therapy_sessions", "location"), ("therapy_sessions", "cancelled_at"),
                ("users", "calendar_token_hash"), ("users", "calendar_shows_names", False),
                ("exercises", "description", ""), ("exercises", "typical_minutes")],
}


# Columns are added and dropped in place, never through a batch: on SQLite a batch rebuilds the
# table, and dropping the old one would take every row that cascades from it (and users' triggers).
def upgrade():
    op.create_table('note_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['therapist_id'], ['users.id'], name=op.f('fk_note_templates_therapist_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_note_templates'))
    )
    with op.batch_alter_table('note_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_note_templates_therapist_id'), ['therapist_id'], unique=False)

    op.create_table('note_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sections', sa.Text(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('shared', 'clinical', 'member')", name=op.f('ck_note_drafts_kind_known')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_note_drafts_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['therapy_sessions.id'], name=op.f('fk_note_drafts_session_id_therapy_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_note_drafts')),
    sa.UniqueConstraint('session_id', 'author_id', 'kind', name='uq_note_drafts_one_per_note')
    )
    with op.batch_alter_table('note_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_note_drafts_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_note_drafts_session_id'), ['session_id'], unique=False)

    op.add_column('clinical_note_revisions', sa.Column('template_name', sa.String(length=80), nullable=True))
    op.add_column('clinical_note_revisions', sa.Column('sections', sa.Text(), nullable=True))

    op.add_column('clinical_notes', sa.Column('template_name', sa.String(length=80), nullable=True))
    op.add_column('clinical_notes', sa.Column('sections', sa.Text(), nullable=True))

    op.add_column('exercises', sa.Column('description', sa.Text(), server_default='', nullable=False))
    op.add_column('exercises', sa.Column('typical_minutes', sa.Integer(), nullable=True))

    op.add_column('therapy_sessions', sa.Column('location', sa.Text(), nullable=True))
    op.add_column('therapy_sessions', sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_therapy_sessions_therapist_starts', 'therapy_sessions', ['therapist_id', 'starts_at'], unique=False)

    op.add_column('users', sa.Column('calendar_token_hash', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('calendar_shows_names', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index(op.f('ix_users_calendar_token_hash'), 'users', ['calendar_token_hash'], unique=True)


def downgrade():
    op.drop_index(op.f('ix_users_calendar_token_hash'), table_name='users')
    op.drop_column('users', 'calendar_shows_names')
    op.drop_column('users', 'calendar_token_hash')

    op.drop_index('ix_therapy_sessions_therapist_starts', table_name='therapy_sessions')
    op.drop_column('therapy_sessions', 'cancelled_at')
    op.drop_column('therapy_sessions', 'location')

    op.drop_column('exercises', 'typical_minutes')
    op.drop_column('exercises', 'description')

    op.drop_column('clinical_notes', 'sections')
    op.drop_column('clinical_notes', 'template_name')

    op.drop_column('clinical_note_revisions', 'sections')
    op.drop_column('clinical_note_revisions', 'template_name')

    with op.batch_alter_table('note_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_note_drafts_session_id'))
        batch_op.drop_index(batch_op.f('ix_note_drafts_author_id'))

    op.drop_table('note_drafts')
    with op.batch_alter_table('note_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_note_templates_therapist_id'))

    op.drop_table('note_templates')
