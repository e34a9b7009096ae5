"""the library's descriptions: a line or two and a typical length for each built-in exercise

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

Issue 18, the library. 0017 gave exercises a description and a typical length; this fills them
in for the built-in exercises (one per family, inserted by 0002), so that the library says what
each is for before it is opened. Data only: no table or column changes. A therapist's own
exercises are never touched (she writes their descriptions herself), and built-in exercises
cannot be edited in the app, so the downgrade can simply put back what 0017 left: '' and NULL.
The texts live here, as 0002's do, so that changing one later is itself a reviewed revision.
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {}  # nothing anyone wrote: the built-in descriptions are this revision's own text

# family -> (description, typical minutes). Written for the therapist choosing an exercise; "her"
# is the other person in the relationship, as in the exercises' own instructions.
BUILT_IN_DESCRIPTIONS = {
    "change_dynamic": (
        "Your client practises, once this week, the very thing they wish she did for them "
        "(listening without interrupting, asking about her day) and notices what changes, in her "
        "and in themselves. A good first step for anyone stuck waiting for the other to change.",
        15,
    ),
    "stay_present": (
        "Your client watches for one easy moment with her, with no conflict in it, stays with it "
        "for a few breaths and writes it down. Small and gentle: it helps old resentments take up "
        "a little less room.",
        10,
    ),
    "choose_battles": (
        "When one of the old, familiar arguments starts, your client tries not having it, or "
        "ending it early and kindly, then writes about what letting go cost and what it gave. For "
        "fights that have been had a hundred times and never won.",
        15,
    ),
    "agree_to_disagree": (
        "Your client names one subject the two of them keep fighting over and thinks through how "
        "both could set it down, which is not the same as giving in. It can be talked through "
        "together, or written alone first.",
        20,
    ),
    "idealisation": (
        "Your client lists what they expect of her, then asks honestly which of those "
        "expectations a real person, with her own history and limits, could meet. A step toward "
        "seeing her as a whole person, flaws and strengths together.",
        25,
    ),
    "growing_up": (
        "About the changing roles as a daughter grows up: where independence causes friction, what "
        "each of them fears, and one small step that respects both closeness and room. In a pair, "
        "the mother and the daughter each get questions worded for them.",
        20,
    ),
    "forgiveness_letter": (
        "A letter your client writes and does not send, in one sitting or several: what happened, "
        "what they are ready to forgive, and what they do not excuse. Forgiving here is for the "
        "writer and does not mean reconciling; only you read it unless your client decides "
        "otherwise.",
        30,
    ),
    "safety": (
        "For when contact with her causes harm: what happened, what protects your client, and what "
        "you should know before the next session. Only you ever read it; it is never shared, "
        "whatever else is chosen.",
        15,
    ),
}

exercises = sa.table(
    "exercises",
    sa.column("built_in", sa.Boolean),
    sa.column("family", sa.String),
    sa.column("description", sa.Text),
    sa.column("typical_minutes", sa.Integer),
)


def _built_in(family):
    return exercises.update().where(exercises.c.built_in.is_(True), exercises.c.family == family)


def upgrade():
    for family, (description, minutes) in BUILT_IN_DESCRIPTIONS.items():
        op.execute(_built_in(family).values(description=description, typical_minutes=minutes))


def downgrade():
    for family in BUILT_IN_DESCRIPTIONS:
        op.execute(_built_in(family).values(description="", typical_minutes=None))
