"""note drafts per note: a member's edit of one of her notes, her chosen readers, the template

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01

Issue 18, session notes that save themselves. A pair member may write several notes on one
session, so a draft of an edit names the note it edits (note_id; 0 for a new note and for the
shared and clinical notes, of which a session has one each) and one draft is kept per note. A
draft also keeps who the member chose should read it (visibility) and the template its sections
were written on (template_name), so that both come back with her words.
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

DOWNGRADE_DROPS = {
    "loses": "drafts of edits of members' notes (one draft per note goes back to one per kind), "
             "and drafts' chosen readers and templates",
    "columns": [("note_drafts", "note_id", 0), ("note_drafts", "visibility"),
                ("note_drafts", "template_name")],
}


# note_drafts has no rows hanging off it and no triggers: a batch (a rebuilt table on SQLite)
# is safe here, and is the only way SQLite changes a unique constraint.
def upgrade():
    with op.batch_alter_table('note_drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note_id', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('template_name', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('visibility', sa.String(length=10), nullable=True))
        batch_op.drop_constraint('uq_note_drafts_one_per_note', type_='unique')
        batch_op.create_unique_constraint('uq_note_drafts_one_per_note',
                                          ['session_id', 'author_id', 'kind', 'note_id'])


def downgrade():
    # Drafts of edits of members' notes cannot stay: one draft per kind again.
    op.execute("DELETE FROM note_drafts WHERE note_id <> 0")
    with op.batch_alter_table('note_drafts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_note_drafts_one_per_note', type_='unique')
        batch_op.create_unique_constraint('uq_note_drafts_one_per_note', ['session_id', 'author_id', 'kind'])
        batch_op.drop_column('visibility')
        batch_op.drop_column('template_name')
        batch_op.drop_column('note_id')
