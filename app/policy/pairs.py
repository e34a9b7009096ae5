"""Pairs and sharing: who links, who reads what the other shares, and when (reveal together)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import g, has_request_context, request
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    REFLECTION_SUBMITTED,
    SHARING_NEVER,
    Assignment,
    Pair,
    PairExercise,
    PairMember,
    PairReply,
    Reflection,
    User,
    utcnow,
)
from app.policy.base import _signed_in, is_client, is_therapist
from app.policy.clients import can_assign_to

# --- pairs ---------------------------------------------------------------------------------

def active_pair_of(user) -> Pair | None:
    """The linked pair (both accepted, not ended) this client belongs to, if any."""
    if not is_client(user):
        return None
    pair = open_pair_of(user)
    return pair if pair is not None and pair.is_active else None


def _linked_partners(user_a_id: int, user_b_id: int) -> Pair | None:
    """The active pair that links these two people, or None."""
    if user_a_id == user_b_id:
        return None
    pair = _open_pair_of_id(user_a_id)
    if pair is None or not pair.is_active or pair.member_for(user_b_id) is None:
        return None
    return pair


def can_link_pair(user, first: User, second: User) -> bool:
    """A therapist links two of her own (different, open) clients who are in no other pair."""
    if not (is_therapist(user) and first is not None and second is not None and first.id != second.id):
        return False
    for client in (first, second):
        if not can_assign_to(user, client) or open_pair_of(client) is not None:
            return False
    return True


def open_pair_of(client: User) -> Pair | None:
    """A pair this client belongs to that has not ended (pending or active)."""
    return _open_pair_of_id(client.id)


# Built once (asked on most pages): a statement built anew is keyed for the cache anew each time.
_OPEN_PAIR = (sa.select(Pair).join(PairMember)
              .where(PairMember.user_id == sa.bindparam("user_id"), Pair.ended_at.is_(None))
              .options(joinedload(Pair.members).joinedload(PairMember.user)))


def _open_pair_of_id(user_id: int) -> Pair | None:
    """The pair with its members and their accounts, in one query. A page asks this several
    times (the page, its policy checks, its template): a GET asks the database once. Anything
    that changes data (POST) asks afresh every time."""
    cache = None
    if has_request_context() and request.method in ("GET", "HEAD"):
        cache = g.setdefault("_open_pair_of", {})
        if user_id in cache:
            return cache[user_id]
    pair = db.session.scalars(_OPEN_PAIR, {"user_id": user_id}).unique().first()
    if cache is not None:
        cache[user_id] = pair
    return pair


def can_view_pair(user, pair: Pair) -> bool:
    """Her therapist, and each member (to accept, see her partner's name, or leave)."""
    if not _signed_in(user) or pair is None:
        return False
    if is_therapist(user):
        return pair.therapist_id == user.id
    return pair.member_for(user.id) is not None


def can_respond_to_pair(user, pair: Pair) -> bool:
    """A member accepts or declines while the pair waits for her."""
    member = pair.member_for(user.id) if pair is not None and is_client(user) else None
    return member is not None and member.accepted_at is None and pair.ended_at is None


def can_leave_pair(user, pair: Pair) -> bool:
    """Either member can leave at any time."""
    return (is_client(user) and pair is not None and pair.ended_at is None
            and pair.member_for(user.id) is not None)


def can_dissolve_pair(user, pair: Pair) -> bool:
    return is_therapist(user) and pair is not None and pair.therapist_id == user.id \
        and pair.ended_at is None


def can_assign_to_pair(user, pair: Pair) -> bool:
    return can_dissolve_pair(user, pair) and pair.is_active and all(
        m.user.is_active for m in pair.members)


def never_shareable(task: Assignment) -> bool:
    """Safety and boundaries: only ever for the therapist, whatever anyone chooses."""
    return task.sharing == SHARING_NEVER


def shareable(reflection: Reflection) -> bool:
    """A reflection that may be shared at all: sent, not deleted, of a family that may be
    shared. The share button, the share POST, the partner's pages and their scope ask this."""
    return (reflection is not None and reflection.status == REFLECTION_SUBMITTED
            and reflection.deleted_at is None and not never_shareable(reflection.assignment))


def can_share_reflection(user, reflection: Reflection) -> bool:
    """The author shares a shareable reflection, not yet shared, while she is in a linked pair."""
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and shareable(reflection) and reflection.shared_at is None
            and active_pair_of(user) is not None)


def can_withdraw_share(user, reflection: Reflection) -> bool:
    return (is_client(user) and reflection is not None and reflection.author_id == user.id
            and reflection.shared_at is not None)


def reveal_waiting(reflection: Reflection) -> bool:
    """On a reveal-together pair exercise, True until both members have sent theirs."""
    pair_exercise = reflection.assignment.pair_exercise
    if pair_exercise is None or not pair_exercise.reveal_together:
        return False
    for task in pair_exercise.tasks:
        if task.reflection is None or task.reflection.status != REFLECTION_SUBMITTED:
            return True
    return False


def _shared_with_reader(user, reflection: Reflection) -> bool:
    """The reflection is shareable and its author shares it now with this reader, her linked
    pair member (a share from before this link never counts)."""
    if not is_client(user) or reflection is None or user.id == reflection.author_id:
        return False
    if not shareable(reflection) or reflection.shared_at is None:
        return False
    pair = _linked_partners(user.id, reflection.author_id)
    return pair is not None and reflection.shared_at >= pair.linked_since


def partner_can_read(user, reflection: Reflection) -> bool:
    """Her linked partner reads a reflection only if it was sent, is of a shareable family,
    is shared now, and (reveal together) both have sent theirs. Never once the pair ended."""
    return _shared_with_reader(user, reflection) and not reveal_waiting(reflection)


def reveal_waits_for_reader(user, reflection: Reflection) -> bool:
    """Shared with her, on a reveal-together exercise that waits only for her own reflection:
    it is her turn ("send yours to read it")."""
    return _shared_with_reader(user, reflection) and reveal_waiting(reflection)


def can_view_pair_exercise(user, pair_exercise: PairExercise) -> bool:
    """Whoever may see the pair sees that it was given this exercise (not what anyone wrote)."""
    return pair_exercise is not None and can_view_pair(user, pair_exercise.pair)


def can_open_reveal(user, pair_exercise: PairExercise) -> bool:
    """A member of the linked pair opens the reveal once both have sent theirs (each column
    then shows what she may read: her own always, the other's when it is shared with her)."""
    if not is_client(user) or pair_exercise is None:
        return False
    pair = _linked_partners_pair(user, pair_exercise)
    if pair is None:
        return False
    tasks = [t for t in pair_exercise.tasks if t.deleted_at is None]
    return len(tasks) == 2 and all(
        t.reflection is not None and t.reflection.status == REFLECTION_SUBMITTED
        and t.reflection.deleted_at is None for t in tasks)


REPLY_EDIT_MINUTES = 10


def can_reply_to(user, reflection: Reflection) -> bool:
    """After the reveal, a member answers the other member's answers (those shared with her)."""
    if reflection is None or reflection.assignment.pair_exercise is None:
        return False
    return (can_open_reveal(user, reflection.assignment.pair_exercise)
            and partner_can_read(user, reflection))


def can_view_reply(user, reply: PairReply) -> bool:
    """Both members while the reveal is open, and their therapist; a withdrawn one, nobody."""
    if reply is None or reply.withdrawn_at is not None:
        return False
    pair_exercise = db.session.get(PairExercise, reply.pair_exercise_id)
    if is_therapist(user):
        return pair_exercise is not None and pair_exercise.therapist_id == user.id
    return can_open_reveal(user, pair_exercise)


def can_edit_reply(user, reply: PairReply) -> bool:
    """Its author, for the first few minutes (a reply read and answered stays as it was read)."""
    return (can_view_reply(user, reply) and reply.author_id == user.id
            and utcnow() < reply.created_at + timedelta(minutes=REPLY_EDIT_MINUTES))


def can_withdraw_reply(user, reply: PairReply) -> bool:
    """Its author, at any time while the pair is linked."""
    return can_view_reply(user, reply) and reply.author_id == user.id


def _linked_partners_pair(user, pair_exercise: PairExercise) -> Pair | None:
    """Her active pair, if this exercise was given to it."""
    pair = active_pair_of(user)
    return pair if pair is not None and pair.id == pair_exercise.pair_id else None


def shared_with(user) -> sa.Select:
    """Reflections her linked partner shares with her (reveal-together ones still filtered by
    partner_can_read before showing)."""
    pair = active_pair_of(user)
    if pair is None or not pair.is_active:
        return sa.select(Reflection).where(sa.false())
    partner = pair.partner_of(user.id)
    # shareable() and _shared_with_reader() as a query
    return (sa.select(Reflection).join(Reflection.assignment)
            .where(Reflection.author_id == partner.user_id,
                   Reflection.status == REFLECTION_SUBMITTED, Reflection.deleted_at.is_(None),
                   Reflection.shared_at.is_not(None),
                   Reflection.shared_at >= pair.linked_since,
                   Assignment.sharing != SHARING_NEVER))


def visible_pairs(user) -> sa.Select:
    query = sa.select(Pair)
    if is_therapist(user):
        return query.where(Pair.therapist_id == user.id)
    if is_client(user):
        return query.join(PairMember).where(PairMember.user_id == user.id)
    return query.where(sa.false())
