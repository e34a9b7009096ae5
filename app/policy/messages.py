"""Secure messages: who reads and writes a thread, and who answers feedback there.

A thread is a client's with her therapist (`client_id`) or a pair's with theirs (`pair_id`). It
is made when its first message is written, so the rules also answer for a thread not stored yet
(a transient `MessageThread` with its ids set).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    MessageThread,
    Pair,
    PairMember,
    Reflection,
    User,
)
from app.policy.base import _signed_in, is_client, is_therapist

# --- the parts -------------------------------------------------------------------------------

def thread_pair(thread: MessageThread) -> Pair | None:
    """The pair a pair thread belongs to (the model has no relationship to it)."""
    if thread is None or thread.pair_id is None:
        return None
    return db.session.get(Pair, thread.pair_id)


def thread_client(thread: MessageThread) -> User | None:
    """The client of a client's own thread."""
    if thread is None or thread.client_id is None:
        return None
    return thread.client if thread.client is not None else db.session.get(User, thread.client_id)


def _is_her_own_thread(user, thread: MessageThread) -> bool:
    return is_client(user) and thread.client_id is not None and thread.client_id == user.id


def _is_its_therapist(user, thread: MessageThread) -> bool:
    """Her therapist: the thread's, and still the client's (or the pair's)."""
    if not is_therapist(user) or thread.therapist_id != user.id:
        return False
    if thread.client_id is not None:
        client = thread_client(thread)
        return client is not None and client.therapist_id == user.id
    pair = thread_pair(thread)
    return pair is not None and pair.therapist_id == user.id


def _is_linked_member(user, thread: MessageThread) -> bool:
    """A member of the pair while it is linked (both accepted, not ended, both accounts open).
    Ending a pair ends each member's reading of its thread at once; the therapist keeps it."""
    pair = thread_pair(thread)
    return (is_client(user) and pair is not None and pair.is_active
            and pair.member_for(user.id) is not None)


# --- the rules -------------------------------------------------------------------------------

def can_read_thread(user, thread: MessageThread) -> bool:
    """The client her own thread; a linked member her pair's; their therapist both, always."""
    if not _signed_in(user) or thread is None:
        return False
    return (_is_her_own_thread(user, thread) or _is_its_therapist(user, thread)
            or _is_linked_member(user, thread))


def can_write_in_thread(user, thread: MessageThread) -> bool:
    """Whoever reads it, while the conversation is open: the client's account is open; the pair
    is linked (a pending link has nobody to write to, an ended one is closed)."""
    if not can_read_thread(user, thread):
        return False
    if thread.client_id is not None:
        client = thread_client(thread)
        return client is not None and client.is_active
    pair = thread_pair(thread)
    return pair is not None and pair.is_active


def can_reply_to_feedback(user, reflection: Reflection) -> bool:
    """Its author answers her therapist's feedback on a sent reflection (in her own thread)."""
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.status == REFLECTION_SUBMITTED and reflection.deleted_at is None
            and reflection.last_feedback_at is not None)


# --- the scope ---------------------------------------------------------------------------------

def linked_pair_ids(user_id) -> sa.Select:
    """Ids of the pairs this person is a member of while linked: Pair.is_active as a query."""
    other, person = aliased(PairMember), aliased(User)
    not_ready = (sa.select(other.pair_id).join(person, person.id == other.user_id)
                 .where(sa.or_(other.accepted_at.is_(None), person.closed_at.is_not(None))))
    counted = aliased(PairMember)
    two_members = (sa.select(sa.func.count(counted.id)).where(counted.pair_id == PairMember.pair_id)
                   .scalar_subquery())
    return (sa.select(PairMember.pair_id).join(Pair, Pair.id == PairMember.pair_id)
            .where(PairMember.user_id == user_id, Pair.ended_at.is_(None),
                   PairMember.pair_id.not_in(not_ready), two_members == 2))


def _read_as_therapist(user_id) -> sa.ColumnElement[bool]:
    """Her thread, of a client or a pair that is still hers (_is_its_therapist as a query)."""
    client, pair = aliased(User), aliased(Pair)
    return sa.and_(MessageThread.therapist_id == user_id, sa.or_(
        MessageThread.client_id.in_(sa.select(client.id).where(client.therapist_id == user_id)),
        MessageThread.pair_id.in_(sa.select(pair.id).where(pair.therapist_id == user_id))))


def _read_as_client(user_id) -> sa.ColumnElement[bool]:
    """Her own thread, and her pair's while it is linked."""
    return sa.or_(MessageThread.client_id == user_id,
                  MessageThread.pair_id.in_(linked_pair_ids(user_id)))


def visible_threads(user) -> sa.Select:
    """The threads this person may read, as a SELECT (the inbox, the Messages link's count)."""
    query = sa.select(MessageThread)
    if is_therapist(user):
        return query.where(_read_as_therapist(user.id))
    if is_client(user):
        return query.where(_read_as_client(user.id))
    return query.where(sa.false())
