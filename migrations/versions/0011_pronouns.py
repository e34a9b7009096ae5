"""a person's pronouns, chosen on her account page

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "the pronouns people chose on their account page",
    "columns": [("users", "pronouns", "")],
}


def upgrade():
    # Empty means "not chosen": pages then use her name or neutral words, never a guess.
    op.add_column('users', sa.Column('pronouns', sa.String(length=20), server_default='', nullable=False))


def downgrade():
    # Plain DROP COLUMN (as in 0007): a batch rebuild of `users` would cascade deletes.
    op.drop_column('users', 'pronouns')
