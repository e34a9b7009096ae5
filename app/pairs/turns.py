"""Whose turn it is on a pair exercise, from each member's side: one state machine that every
text about a pair task is read from (the task page, home, /shared, the reveal page).

States, for the member who reads the page: "ended" (the link ended), "none_sent" (she has
not sent; nothing of the other's is shared with her), "their_turn_done" (the other has sent and
shared with her; she has not sent: her turn), "you_sent" (she has sent; nothing of the
other's is readable yet), "both_sent" (both have sent, and she reads the other's: the reveal).
Each sentence is true whatever the other member did and did not share: the other's
unshared writing, and whether it exists, is never told."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import policy
from app.extensions import db
from app.models import REFLECTION_SUBMITTED, Assignment, PairExercise, PairMember, Reflection, User


@dataclass
class Turn:
    """One member's view of one pair exercise."""

    state: str
    other: PairMember  # the other member, with the relation the pair chose for her
    relation: str  # "your mother" (or "Elena" when no relation was given)
    text: str  # the sentence the task page and home show
    badge: str  # a word or two for a card: "Your turn", "Waiting", "Revealed"
    mine_shared: bool = False


BOTH_ANSWERED = "Both of you have answered — open the reveal"


def _capital(words: str) -> str:
    """The first letter up, the rest as written ("your mother" → "Your mother"; "McKenzie" stays)."""
    return words[:1].upper() + words[1:]


def _your_turn(other: PairMember) -> str:
    return f"{_capital(relation_words(other))} has answered — send yours to read {other.user.name}’s."


def notice_text(reader: User, kind: str) -> str | None:
    """The sentence a pair notification (and its content-free email) says, in the reader's
    words; None when she is in no linked pair any more (the generic sentence is shown)."""
    pair = policy.active_pair_of(reader)
    other = pair.partner_of(reader.id) if pair is not None else None
    if other is None:
        return None
    relation = _capital(relation_words(other))
    return {
        "pair_turn": _your_turn(other),
        "pair_revealed": f"{BOTH_ANSWERED}.",
        "partner_shared": f"{relation} shared a reflection with you.",
        "pair_reply": f"{relation} answered one of your answers.",
    }.get(kind)


def relation_words(member: PairMember) -> str:
    """How a client reads the other member: the relation the pair chose, or her first name."""
    label = (member.label or "").strip()
    return f"your {label}" if label else member.user.name.split(" ")[0]


def _sent(task: Assignment | None) -> bool:
    reflection = task.reflection if task is not None else None
    return (reflection is not None and reflection.status == REFLECTION_SUBMITTED
            and reflection.deleted_at is None)


def turn_of(viewer: User, task: Assignment) -> Turn | None:
    """The state of this pair task from the viewer's side (None for a task of no pair)."""
    pair_exercise = task.pair_exercise
    if pair_exercise is None or task.client_id != viewer.id:
        return None
    pair = pair_exercise.pair
    other = pair.partner_of(viewer.id) if pair is not None else None
    if other is None:
        return None
    relation = relation_words(other)
    name = other.user.name
    mine = task.reflection if _sent(task) else None
    mine_shared = mine is not None and mine.shared_at is not None
    if pair.ended_at is not None or policy.active_pair_of(viewer) is None:
        return Turn("ended", other, relation, "This link has ended: nothing is shared between you "
                    "any more.", "Link ended", mine_shared)
    theirs_task = next((t for t in pair_exercise.tasks if t.client_id == other.user_id), None)
    theirs = theirs_task.reflection if theirs_task is not None else None
    if mine is not None and theirs is not None and policy.partner_can_read(viewer, theirs):
        return Turn("both_sent", other, relation, f"{BOTH_ANSWERED} to read {name}’s answers beside "
                    "yours.", "Revealed", mine_shared)
    if mine is None and theirs is not None and policy.reveal_waits_for_reader(viewer, theirs):
        return Turn("their_turn_done", other, relation, _your_turn(other), "Your turn", mine_shared)
    if mine is None and theirs is not None and policy.partner_can_read(viewer, theirs):
        return Turn("their_turn_done", other, relation, f"{_capital(relation)} has answered and "
                    f"shared it with you.", "Shared with you", mine_shared)
    if mine is not None:
        if mine_shared:
            return Turn("you_sent", other, relation, f"You have answered; waiting for {name}. You read "
                        "each other’s answers once both are shared.", "Waiting", mine_shared)
        return Turn("you_sent", other, relation, f"You have answered. {name} has not shared a "
                    "reflection on this exercise with you. You kept yours private: only your "
                    "therapist reads it.", "Sent", mine_shared)
    return Turn("none_sent", other, relation, f"{name} has not shared a reflection on this exercise "
                "with you.", "Not sent yet", mine_shared)


def turns_of(viewer: User, tasks: list[Assignment]) -> dict[int, Turn]:
    """Each pair task's turn, for a list of her tasks (home): the pair exercises with both
    members' tasks and reflections are read in two queries, whatever the number of tasks."""
    ids = {task.pair_exercise_id for task in tasks if task.pair_exercise_id is not None}
    if not ids:
        return {}
    # Held while the turns are read: the session keeps only weak references to what it loaded.
    # Neither member's encrypted note or answers: a turn is read from statuses and dates alone.
    both = selectinload(PairExercise.tasks)
    loaded = db.session.scalars(sa.select(PairExercise).where(PairExercise.id.in_(ids)).options(
        both.defer(Assignment.note), both.defer(Assignment.instructions),
        both.defer(Assignment.prompts),
        both.joinedload(Assignment.reflection).defer(Reflection.answers))).all()
    turns = {task.id: turn for task in tasks if (turn := turn_of(viewer, task)) is not None}
    del loaded
    return turns
