"""conversation and delivery: messages, the outbox, push devices, quiet hours and digests

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01

Issue 20. Messages: a thread per client and per pair with their therapist (message bodies are
encrypted at rest by the model's type, stored as text like every encrypted column), and how far
each person has read each thread. The outbox: every email and push is written in the transaction
of the change that causes it and sent afterwards by a worker (app/notifications/outbox.py); its
body is encrypted too (a reset or invitation link carries a token). Push devices (Web Push
subscriptions). On users: quiet hours, the daily digest, and a therapist's words about when she
reads messages.
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {
    "loses": "every message, the emails and pushes not yet sent, the devices push was turned on "
             "for, and people's quiet hours, digest choice and message hours",
    "tables": ["messages", "message_reads", "message_threads", "outbox", "push_subscriptions"],
    "columns": [("users", "quiet_from"), ("users", "quiet_until"), ("users", "email_digest", False),
                ("users", "last_digest_at"), ("users", "message_hours", "")],
}


def upgrade():
    op.create_table('push_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=1000), nullable=False),
    sa.Column('p256dh', sa.String(length=200), nullable=False),
    sa.Column('auth', sa.String(length=100), nullable=False),
    sa.Column('device', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_push_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscriptions_endpoint'))
    )
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscriptions_user_id'), ['user_id'], unique=False)

    op.create_table('message_threads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('pair_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(client_id IS NULL) <> (pair_id IS NULL)', name=op.f('ck_message_threads_client_or_pair')),
    sa.ForeignKeyConstraint(['client_id'], ['users.id'], name=op.f('fk_message_threads_client_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pair_id'], ['pairs.id'], name=op.f('fk_message_threads_pair_id_pairs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['therapist_id'], ['users.id'], name=op.f('fk_message_threads_therapist_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_threads')),
    sa.UniqueConstraint('client_id', name=op.f('uq_message_threads_client_id')),
    sa.UniqueConstraint('pair_id', name=op.f('uq_message_threads_pair_id'))
    )
    with op.batch_alter_table('message_threads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_threads_last_message_at'), ['last_message_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_threads_therapist_id'), ['therapist_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=254), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('email', 'push')", name=op.f('ck_outbox_channel_known')),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dropped')", name=op.f('ck_outbox_status_known')),
    sa.ForeignKeyConstraint(['subscription_id'], ['push_subscriptions.id'], name=op.f('fk_outbox_subscription_id_push_subscriptions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_user_id'), ['user_id'], unique=False)

    op.create_table('message_reads',
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('read_up_to', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['message_threads.id'], name=op.f('fk_message_reads_thread_id_message_threads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_message_reads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thread_id', 'user_id', name=op.f('pk_message_reads'))
    )
    with op.batch_alter_table('message_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_reads_user_id'), ['user_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_messages_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflections.id'], name=op.f('fk_messages_reflection_id_reflections'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['message_threads.id'], name=op.f('fk_messages_thread_id_message_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_reflection_id'), ['reflection_id'], unique=False)
        batch_op.create_index('ix_messages_thread_created', ['thread_id', 'created_at'], unique=False)

    # Plain ADD/DROP COLUMN on users (as in 0007 and 0011): a batch rebuild of `users` would
    # cascade deletes, and SQLite's audit triggers name the table.
    op.add_column('users', sa.Column('quiet_from', sa.Time(), nullable=True))
    op.add_column('users', sa.Column('quiet_until', sa.Time(), nullable=True))
    op.add_column('users', sa.Column('email_digest', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('users', sa.Column('last_digest_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('message_hours', sa.String(length=300), server_default='', nullable=False))


def downgrade():
    for column in ('message_hours', 'last_digest_at', 'email_digest', 'quiet_until', 'quiet_from'):
        op.drop_column('users', column)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_thread_created')
        batch_op.drop_index(batch_op.f('ix_messages_reflection_id'))
        batch_op.drop_index(batch_op.f('ix_messages_author_id'))

    op.drop_table('messages')
    with op.batch_alter_table('message_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_reads_user_id'))

    op.drop_table('message_reads')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_user_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_subscription_id'))
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index(batch_op.f('ix_outbox_created_at'))

    op.drop_table('outbox')
    with op.batch_alter_table('message_threads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_threads_therapist_id'))
        batch_op.drop_index(batch_op.f('ix_message_threads_last_message_at'))

    op.drop_table('message_threads')
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_user_id'))

    op.drop_table('push_subscriptions')
