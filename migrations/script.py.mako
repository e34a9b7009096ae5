"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades"). Fill it in:
# {"loses": "in a few words", "tables": [...], "columns": [("table", "column"), ...]}, or {} when
# the downgrade drops nothing. Left at None, the revision cannot be downgraded without
# `-x allow-data-loss=yes`, and tests/test_downgrades_ask.py fails.
DOWNGRADE_DROPS = None


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
