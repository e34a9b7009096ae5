"""The reveal: both members' answers to one pair exercise, question by question, with their
quick ratings and the gap between them. Opened by each member once both have sent."""
from __future__ import annotations

from dataclasses import dataclass

from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.extensions import db
from app.models import PairExercise, Reflection, User
from app.notifications.services import reveal_notices_read, unread_count
from app.pairs.ratings import compare
from app.pairs.turns import relation_words


@dataclass
class Column:
    """One member's side: her name, how the reader calls her, and what the reader may read."""

    name: str
    relation: str  # "you" or "your mother"
    reflection: Reflection | None  # None: not shared with the reader
    prompts: list[str]


@dataclass
class Row:
    """One question: each member's wording of it and her answer ('' when none)."""

    mine: tuple[str, str | None]
    theirs: tuple[str, str | None]


@dataclass
class Reveal:
    pair_exercise: PairExercise
    mine: Column
    theirs: Column
    rows: list[Row]
    ratings: list[dict]


RATINGS = (("resentment", "How strong the resentment felt (0–10)"),
           ("closeness", "How close you felt (0–10)"),
           ("stayed_present", "Stayed present"))


def _answer(reflection: Reflection | None, index: int) -> str | None:
    if reflection is None:
        return None
    return reflection.answers[index] if index < len(reflection.answers) else ""


def open_reveal(member: User, pair_exercise: PairExercise) -> Reveal:
    """Both sides as this member may read them; reading the other's is audited."""
    if not policy.can_open_reveal(member, pair_exercise):
        raise Forbidden()
    pair = pair_exercise.pair
    other = pair.partner_of(member.id)
    tasks = {t.client_id: t for t in pair_exercise.tasks if t.deleted_at is None}
    mine_task, theirs_task = tasks[member.id], tasks[other.user_id]
    theirs = theirs_task.reflection if policy.partner_can_read(member, theirs_task.reflection) else None
    if theirs is not None:
        audit.record_read(member, other.user, theirs, action="read_partner_reflection")
    if unread_count(member):
        reveal_notices_read(member, pair_exercise.id)
        db.session.commit()
    mine_column = Column("You", "you", mine_task.reflection, list(mine_task.prompts))
    theirs_column = Column(other.user.name, relation_words(other), theirs, list(theirs_task.prompts))
    count = max(len(mine_task.prompts), len(theirs_task.prompts))
    rows = [Row((mine_column.prompts[i] if i < len(mine_column.prompts) else "",
                 _answer(mine_column.reflection, i)),
                (theirs_column.prompts[i] if i < len(theirs_column.prompts) else "",
                 _answer(theirs, i))) for i in range(count)]
    ratings = compare(mine_column.reflection, theirs, RATINGS)
    return Reveal(pair_exercise, mine_column, theirs_column, rows, ratings)
