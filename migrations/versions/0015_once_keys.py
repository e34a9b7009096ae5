"""one-time keys of the forms that create something

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

A form that creates something (an addendum, feedback, an annotation, a comment, an agenda item,
a reply, an invitation, a task, a session, a pair, an exercise) carries a random key made when
it is rendered. The key is stored with the write, in its transaction; a second post with the
same key (the "not saved yet" page sending again after a commit that had succeeded, a double
click) finds it and creates nothing. `made` holds the ids of what the first post made (plain
ids, no content), so the second is answered as the first was.
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "the forms' used one-time keys (a form posted before may then be posted once more)",
    "tables": ["once_keys"],
}


def upgrade():
    op.create_table('once_keys',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('made', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_once_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'key', name=op.f('pk_once_keys'))
    )
    with op.batch_alter_table('once_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_once_keys_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('once_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_once_keys_created_at'))
    op.drop_table('once_keys')
