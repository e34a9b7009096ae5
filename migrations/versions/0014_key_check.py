"""a key check value per encryption key: a server with the wrong keys refuses to start

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

One row per key id that has ever encrypted data here: the id, a known constant encrypted with
that key (`enc:v1:<key id>:...`, the same format as every encrypted column), and when the row was
written. The app writes the row of a configured key the table lacks (app/core/key_check.py); at
start it decrypts the rows of the configured keys, and a server whose keys do not open them
refuses to start in production, and `flask check-deploy` fails.

The check column is plain text in the model (not EncryptedText): it must stay under the key it
names, so `flask rotate-key` never re-encrypts it, and `flask verify-data` does not count it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "the key check values (one per encryption key) that let a server with the wrong keys refuse to start",
    "tables": ["key_checks"],
}


def upgrade():
    op.create_table('key_checks',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('check_value', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_key_checks'))
    )


def downgrade():
    op.drop_table('key_checks')
