"""After the reveal: a member answers one of the other's answers with a short reply or a gentle
reaction. "Let's talk about this in session" also puts it on her list for the next session."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.models import AgendaItem, PairExercise, PairReply, Reflection, User, utcnow
from app.notifications.services import notify, reveal_link
from app.pairs.announcing import tell
from app.pairs.holding import hold_pair

REPLY_MAX = 1000
REACTIONS = {
    "hear_you": "I hear you",
    "thank_you": "Thank you",
    "surprised": "That surprised me",
    "in_session": "Let’s talk about this in session",
}
TALK_IN_SESSION = "in_session"


class ReplyError(Exception):
    """A refusal with a sentence the person can act on; nothing was changed."""


def _reveal_link(pair_exercise_id: int, prompt_index: int) -> str:
    return f"{reveal_link(pair_exercise_id)}#q{prompt_index + 1}"


def _hold_its_pair(reflection: Reflection) -> None:
    """A reply takes turns with the pair's end and the other's stopping to share (pairs.holding):
    the pair held, and whether she still shares it read afresh."""
    pair_exercise = reflection.assignment.pair_exercise
    if pair_exercise is not None:
        hold_pair(pair_exercise.pair)
        db.session.refresh(reflection, ["status", "deleted_at", "shared_at"])


def _reply_problem(body: str, reaction: str | None, prompt_index: int, prompts: int) -> str | None:
    if reaction is not None and reaction not in REACTIONS:
        return "Choose one of the reactions offered."
    if (reaction is None) == (not body):
        return ("Write a short reply, or choose a reaction." if not body else
                "Send either a reply or a reaction, not both at once.")
    if len(body) > REPLY_MAX:
        return f"Please keep a reply under {REPLY_MAX:,} characters; your text is still here."
    if not 0 <= prompt_index < prompts:
        return "That question is not part of this exercise."
    return None


def add_reply(member: User, reflection: Reflection, prompt_index: int, *, body: str = "",
              reaction: str | None = None, once_key: str | None = None) -> PairReply | None:
    """A reply (or a reaction) to one answer of the other member's, in one transaction with its
    audit row, the other's notification and, for "talk in session", her agenda item. The same
    form posted again (its one-time key) sends nothing and returns None."""
    _hold_its_pair(reflection)
    if not policy.can_reply_to(member, reflection):
        db.session.rollback()
        raise Forbidden()
    body = " ".join((body or "").split()) if body else ""
    prompts = reflection.assignment.prompts
    problem = _reply_problem(body, reaction, prompt_index, len(prompts))
    if problem:
        # Refused before its one-time key is spent: the corrected form, with the same key, sends.
        db.session.rollback()
        raise ReplyError(problem)
    if not once.first_time(member, once_key, "pair_reply"):
        db.session.rollback()  # sent already (a double submit): the hold ends here
        return None
    pair_exercise = reflection.assignment.pair_exercise
    reply = PairReply(pair_exercise_id=pair_exercise.id, reflection_id=reflection.id,
                      prompt_index=prompt_index, author_id=member.id, reaction=reaction, body=body)
    db.session.add(reply)
    db.session.flush()
    audit.record(member, "pair_reply_added", member, reply)
    tell(reflection.author, "pair_reply", _reveal_link(pair_exercise.id, prompt_index))
    if reaction == TALK_IN_SESSION:
        db.session.add(AgendaItem(
            client_id=member.id, therapist_id=member.therapist_id,
            body=f"“{pair_exercise.title}”: talk about {reflection.author.name}’s answer to "
                 f"“{prompts[prompt_index]}”"))
        notify(member.therapist, "agenda_item", f"/clients/{member.id}/prep")
    db.session.commit()
    return reply


def edit_reply(member: User, reply: PairReply, body: str) -> None:
    """Change the words of one's own reply, within the first minutes."""
    if not policy.can_edit_reply(member, reply):
        raise ReplyError(f"A reply can be changed for {policy.REPLY_EDIT_MINUTES} minutes after "
                         "sending; you can still withdraw it.")
    body = " ".join((body or "").split())
    if reply.reaction is not None:
        raise ReplyError("A reaction cannot be changed into words; withdraw it and write a reply.")
    if not body or len(body) > REPLY_MAX:
        raise ReplyError(f"Write a reply of up to {REPLY_MAX:,} characters; your text is still here.")
    reply.body = body
    reply.edited_at = utcnow()
    audit.record(member, "pair_reply_edited", member, reply)
    db.session.commit()


def withdraw_reply(member: User, reply: PairReply) -> None:
    """Take one's reply back: nobody sees it any more."""
    if not policy.can_withdraw_reply(member, reply):
        raise Forbidden()
    reply.withdrawn_at = utcnow()
    audit.record(member, "pair_reply_withdrawn", member, reply)
    db.session.commit()


def replies_on(viewer: User, pair_exercise: PairExercise) -> dict[tuple[int, int], list[PairReply]]:
    """The replies this person may read, by (reflection id, question index), oldest first."""
    found = defaultdict(list)
    for reply in db.session.scalars(sa.select(PairReply).where(
            PairReply.pair_exercise_id == pair_exercise.id, PairReply.withdrawn_at.is_(None))
            .order_by(PairReply.created_at, PairReply.id)):
        if policy.can_view_reply(viewer, reply):
            found[(reply.reflection_id, reply.prompt_index)].append(reply)
    return found


def replies_in_pair(therapist: User, pair_exercise_ids: list[int]) -> dict[int, list[PairReply]]:
    """The replies their therapist reads on the pair page, by pair exercise (one query)."""
    found = defaultdict(list)
    if not pair_exercise_ids:
        return found
    for reply in db.session.scalars(sa.select(PairReply).where(
            PairReply.pair_exercise_id.in_(pair_exercise_ids), PairReply.withdrawn_at.is_(None))
            .order_by(PairReply.created_at, PairReply.id)):
        if policy.can_view_reply(therapist, reply):
            found[reply.pair_exercise_id].append(reply)
    return found
