"""homework loop: exercises, assignments, reflections, review

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

"""
from contextlib import contextmanager
from datetime import datetime, timezone

from alembic import context, op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "the homework: the exercise library, every task, reflection, addendum, feedback and annotation",
    "tables": ["private_annotations", "feedback", "addenda", "reflections", "assignments", "exercises"],
}


@contextmanager
def _sqlite_foreign_keys_off():
    """Run a batch table rebuild on SQLite with foreign keys off. Alembic rebuilds a table by
    copying it, dropping the old one and renaming the copy; with foreign keys on, that DROP first
    deletes every row that cascades from the table (or sets its references to NULL), or refuses.
    The pragma only takes effect outside a transaction, so the revision's work so far is
    committed first (on SQLite Alembic runs each revision in a transaction of its own). The same
    approach as 0006's; copied, because a revision never imports other code. Other databases
    alter tables in place: nothing to do there."""
    bind = op.get_bind()
    if context.is_offline_mode() or bind.dialect.name != "sqlite":
        yield
        return
    dbapi_connection = bind.connection.dbapi_connection

    def switch(on):
        dbapi_connection.commit()
        dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        if dbapi_connection.execute("PRAGMA foreign_keys").fetchone()[0] != int(on):
            raise RuntimeError("could not switch SQLite foreign keys " + ("on" if on else "off"))

    switch(False)
    try:
        yield
        problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign keys broken by a table rebuild: {problems[:5]}")
    except BaseException:
        dbapi_connection.rollback()
        switch(True)
        raise
    switch(True)


# The built-in library, written for this practice. It lives in the migration so that every
# fresh database has it, and so that changing a text later is itself a reviewed revision.
BUILT_IN_EXERCISES = [
    {
        "family": "change_dynamic",
        "title": "Be the listener you wish she were",
        "instructions": (
            "Waiting for the other person to change keeps you both where you are. This week, pick "
            "one thing you wish she did for you (listening without interrupting, asking how your day "
            "went, keeping her voice calm) and do it for her, at least once, without announcing it.\n\n"
            "You are not doing this to earn anything back. You are trying out a different part for "
            "yourself in the old scene and noticing what changes, in her and in you."
        ),
        "prompts": [
            "What did you practise, and when?",
            "How did she respond? Describe what she actually said or did, not what you expected.",
            "How did it feel to do it? What was hard?",
            "Is there anything you would do differently next time?",
        ],
    },
    {
        "family": "stay_present",
        "title": "Catch a good moment",
        "instructions": (
            "When old resentments take up a lot of room, the quiet, easy moments slip by unnoticed. "
            "This week, watch for one moment with her when there was no conflict: a shared laugh, a "
            "meal, a message that simply felt warm.\n\n"
            "When you notice one, stay with it for a few breaths. Write it down soon afterwards, in as "
            "much detail as you can remember."
        ),
        "prompts": [
            "What happened? Where were you, and what made the moment good?",
            "Did an old resentment try to pull you away from it? What did it say?",
            "What helped you stay in the moment, even briefly?",
        ],
    },
    {
        "family": "choose_battles",
        "title": "The argument I did not have",
        "instructions": (
            "Some arguments have been had a hundred times and nobody has ever won them. Each replay "
            "adds a little more hurt. This week, when one of those familiar arguments starts, try "
            "choosing not to have it, or ending it early and kindly.\n\n"
            "You can say something like \"I don't think we will agree on this, and I'd rather not "
            "fight about it today.\" Then notice what happens."
        ),
        "prompts": [
            "Which argument was it, and how did it start this time?",
            "Was it really about the topic, or about who was right? Was it a power struggle?",
            "What did letting it go cost you, and what did it give you?",
        ],
    },
    {
        "family": "agree_to_disagree",
        "title": "A topic we put down",
        "instructions": (
            "Agreeing to disagree is not giving in. It is deciding that the relationship matters more "
            "than settling this one question. Choose one subject you two keep fighting about and "
            "think about how you could both set it down.\n\n"
            "If it feels possible, talk it through with her; if not, start by writing it out here "
            "for yourself."
        ),
        "prompts": [
            "Which topic do you want to stop fighting over?",
            "What do you believe about it? And what, as fairly as you can put it, does she believe?",
            "What will you do instead, the next time it comes up?",
        ],
    },
    {
        "family": "idealisation",
        "title": "The mother (or daughter) in my head, and the one in front of me",
        "instructions": (
            "Most of us carry a picture of what a mother or a daughter should be: always there, "
            "always understanding, always grateful. When the real person falls short, it can feel "
            "like being cheated. This exercise is about looking at that picture honestly.\n\n"
            "Write down what you expect of her. Then look at each expectation and ask whether it is "
            "one a real person, with her own history and limits, could meet."
        ),
        "prompts": [
            "What do you expect of her? List as many expectations as come to mind.",
            "Which of them are realistic, and which belong to an ideal no one could live up to?",
            "Describe her as a person: some of her flaws, and some of her strengths.",
            "What might change if you let go of one expectation that is not realistic?",
        ],
    },
    {
        "family": "growing_up",
        "title": "Growing up, letting go",
        "instructions": (
            "As a daughter grows up, the closeness of her childhood changes shape. Mothers can feel "
            "pushed away; daughters can feel held back. Both are normal, and both can hurt.\n\n"
            "If you are the mother: think about where you are holding on, and what it would mean to "
            "stay her mother rather than become her best friend. If you are the daughter: think about "
            "where you need more room, and how you can ask for it without a fight."
        ),
        "prompts": [
            "Where does her independence (or your own) cause friction right now?",
            "What are you afraid of losing, or afraid of never getting?",
            "What is one small step that would respect both closeness and independence?",
        ],
    },
    {
        "family": "forgiveness_letter",
        "title": "A letter I will not send",
        "instructions": (
            "Forgiving is something you do for yourself. It does not say that what happened was "
            "acceptable, and it does not mean you have to reconcile. It means the resentment can "
            "stop working on you from the inside.\n\n"
            "Write her a letter that you will not send. Take your time; you can write it over "
            "several sittings. Only your therapist reads it, unless you decide otherwise."
        ),
        "prompts": [
            "Dear ... : what happened, in your own words.",
            "What are you ready to forgive?",
            "What do you not excuse, and will not pretend was acceptable?",
            "What do you want for yourself, now, whatever she does?",
        ],
    },
    {
        "family": "safety",
        "title": "Safety and boundaries",
        "instructions": (
            "Some relationships hurt too much, emotionally or physically, to stay in close contact. "
            "Keeping yourself safe comes first. This reflection is for you and your therapist only: "
            "it is never shown to anyone else, whatever you choose elsewhere.\n\n"
            "If you are in danger right now, please stop here and use the crisis numbers at the "
            "bottom of the page."
        ),
        "prompts": [
            "What happened that harmed you, or that you are worried about?",
            "What protects you? People, places, limits you have set or want to set.",
            "What would you like your therapist to know before your next session?",
        ],
    },
]


def _insert_built_in_library():
    exercises = sa.table(
        "exercises",
        sa.column("owner_id", sa.Integer),
        sa.column("built_in", sa.Boolean),
        sa.column("family", sa.String),
        sa.column("title", sa.String),
        sa.column("instructions", sa.Text),
        sa.column("prompts", sa.JSON),
        sa.column("version", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(exercises, [
        dict(owner_id=None, built_in=True, version=1, created_at=now, updated_at=now, **exercise)
        for exercise in BUILT_IN_EXERCISES
    ])


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('exercises',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('built_in', sa.Boolean(), nullable=False),
    sa.Column('family', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=False),
    sa.Column('prompts', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(built_in AND owner_id IS NULL) OR (NOT built_in AND owner_id IS NOT NULL)', name=op.f('ck_exercises_owner_matches_built_in')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_exercises_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercises'))
    )
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercises_owner_id'), ['owner_id'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=True),
    sa.Column('exercise_version', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=False),
    sa.Column('prompts', sa.JSON(), nullable=False),
    sa.Column('sharing', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('series_key', sa.String(length=32), nullable=True),
    sa.Column('occurrence', sa.Integer(), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'submitted', 'cancelled')", name=op.f('ck_assignments_status_known')),
    sa.ForeignKeyConstraint(['client_id'], ['users.id'], name=op.f('fk_assignments_client_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_assignments_exercise_id_exercises'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['therapist_id'], ['users.id'], name=op.f('fk_assignments_therapist_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_client_status_due', ['client_id', 'status', 'due_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_series_key'), ['series_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_therapist_id'), ['therapist_id'], unique=False)

    op.create_table('reflections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('resentment', sa.Integer(), nullable=True),
    sa.Column('closeness', sa.Integer(), nullable=True),
    sa.Column('stayed_present', sa.String(length=10), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('draft_saved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_feedback_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'submitted')", name=op.f('ck_reflections_status_known')),
    sa.CheckConstraint("stayed_present IS NULL OR stayed_present IN ('yes', 'partly', 'no')", name=op.f('ck_reflections_stayed_present_known')),
    sa.CheckConstraint('closeness IS NULL OR (closeness BETWEEN 0 AND 10)', name=op.f('ck_reflections_closeness_range')),
    sa.CheckConstraint('resentment IS NULL OR (resentment BETWEEN 0 AND 10)', name=op.f('ck_reflections_resentment_range')),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_reflections_assignment_id_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_reflections_author_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reflections')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_reflections_assignment_id'))
    )
    with op.batch_alter_table('reflections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reflections_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_reflections_review_queue', ['status', 'reviewed_at', 'urgent', 'submitted_at'], unique=False)

    op.create_table('addenda',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflections.id'], name=op.f('fk_addenda_reflection_id_reflections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addenda'))
    )
    with op.batch_alter_table('addenda', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addenda_reflection_id'), ['reflection_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflections.id'], name=op.f('fk_feedback_reflection_id_reflections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['therapist_id'], ['users.id'], name=op.f('fk_feedback_therapist_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_reflection_id'), ['reflection_id'], unique=False)

    op.create_table('private_annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflections.id'], name=op.f('fk_private_annotations_reflection_id_reflections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['therapist_id'], ['users.id'], name=op.f('fk_private_annotations_therapist_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_private_annotations'))
    )
    with op.batch_alter_table('private_annotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_private_annotations_reflection_id'), ['reflection_id'], unique=False)

    # Changing a foreign key makes SQLite rebuild `users`: foreign keys off for it.
    with _sqlite_foreign_keys_off(), op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_therapist_id_users'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_users_therapist_id_users'), 'users', ['therapist_id'], ['id'])

    # ### end Alembic commands ###
    _insert_built_in_library()


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    # Back to the key exactly as 0001 creates it (no ON DELETE action; autogenerate had written
    # RESTRICT here, which 0001 never had). SQLite rebuilds `users` for it: foreign keys off.
    with _sqlite_foreign_keys_off(), op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_therapist_id_users'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_users_therapist_id_users'), 'users', ['therapist_id'], ['id'])

    with op.batch_alter_table('private_annotations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_private_annotations_reflection_id'))

    op.drop_table('private_annotations')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_reflection_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('addenda', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addenda_reflection_id'))

    op.drop_table('addenda')
    with op.batch_alter_table('reflections', schema=None) as batch_op:
        batch_op.drop_index('ix_reflections_review_queue')
        batch_op.drop_index(batch_op.f('ix_reflections_author_id'))

    op.drop_table('reflections')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_therapist_id'))
        batch_op.drop_index(batch_op.f('ix_assignments_series_key'))
        batch_op.drop_index(batch_op.f('ix_assignments_exercise_id'))
        batch_op.drop_index('ix_assignments_client_status_due')

    op.drop_table('assignments')
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercises_owner_id'))

    op.drop_table('exercises')
    # ### end Alembic commands ###
