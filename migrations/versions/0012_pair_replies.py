"""replies and reactions after a pair's reveal

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "every reply and reaction after a pair's reveal",
    "tables": ["pair_replies"],
}


def upgrade():
    # body is encrypted at rest by the model's type (stored as text, like every encrypted column)
    op.create_table('pair_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pair_exercise_id', sa.Integer(), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=False),
    sa.Column('prompt_index', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('reaction', sa.String(length=30), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_pair_replies_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pair_exercise_id'], ['pair_exercises.id'], name=op.f('fk_pair_replies_pair_exercise_id_pair_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflections.id'], name=op.f('fk_pair_replies_reflection_id_reflections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pair_replies'))
    )
    with op.batch_alter_table('pair_replies', schema=None) as batch_op:
        batch_op.create_index('ix_pair_replies_exercise', ['pair_exercise_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pair_replies_reflection_id'), ['reflection_id'], unique=False)


def downgrade():
    with op.batch_alter_table('pair_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pair_replies_reflection_id'))
        batch_op.drop_index('ix_pair_replies_exercise')
    op.drop_table('pair_replies')
