"""Pair services: link, accept or decline, leave or dissolve, assign to both, share, withdraw."""
from __future__ import annotations

import secrets
from datetime import date

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.core import once
from app.extensions import db
from app.homework.families import sharing_for
from app.homework.tasks import AssignmentError, occurrence_dates
from app.models import (
    TASK_OPEN,
    Assignment,
    Exercise,
    Pair,
    PairExercise,
    PairMember,
    Reflection,
    User,
    utcnow,
)
from app.notifications.services import notify, retract_share_notices
from app.pairs.announcing import announce_share
from app.pairs.holding import hold_clients, hold_her_pair, hold_pair


class PairError(Exception):
    """A refusal with a sentence the person can act on; nothing was changed."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _refusal(message: str) -> PairError:
    """A refusal, the pair let go first (rolled back: nothing was changed)."""
    db.session.rollback()
    return PairError(message)


def _clean_label(label: str) -> str:
    return " ".join((label or "").split()).lower()[:40]


def linkable_clients(therapist: User) -> list[User]:
    """Her clients by name: the choices when she proposes a link."""
    return list(db.session.scalars(policy.visible_clients(therapist).order_by(User.name)))


def find_client(client_id: int | None) -> User | None:
    """The account a chosen id names (link_pair then checks that it is one of hers)."""
    return db.session.get(User, client_id) if client_id else None


def link_pair(therapist: User, first: User, first_label: str, second: User, second_label: str,
              once_key: str | None = None) -> Pair:
    """Propose a link between two of her clients; it takes effect when both have accepted. The
    same form posted again (its one-time key) proposes nothing and returns the pair it made."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "pair_proposed"):
        return db.session.get(Pair, once.earlier(therapist, once_key)["id"])
    if first is None or second is None or first.id == second.id:
        raise PairError("Choose two different clients.", "second_id")
    hold_clients(first, second)
    for client, field in ((first, "first_id"), (second, "second_id")):
        if not policy.can_assign_to(therapist, client):
            raise PairError("Choose two of your own clients.", field)
        if policy.open_pair_of(client) is not None:
            raise PairError(f"{client.name} is already in a pair (or has a link waiting).", field)
    labels = (_clean_label(first_label), _clean_label(second_label))
    if not all(labels):
        raise PairError("Give each member a relation, such as mother or daughter.", "first_label")
    pair = Pair(therapist_id=therapist.id)
    db.session.add(pair)
    db.session.flush()
    for client, label in zip((first, second), labels, strict=False):
        db.session.add(PairMember(pair_id=pair.id, user_id=client.id, label=label))
    audit.record(therapist, "pair_proposed", first, pair)
    for client in (first, second):
        notify(client, "pair_invitation", f"/pairs/{pair.id}")
    once.remember(therapist, once_key, id=pair.id)
    db.session.commit()
    return pair


def respond(client: User, pair: Pair, accept: bool) -> None:
    """A member accepts the link, or declines it (which ends the proposal)."""
    hold_pair(pair)
    if not policy.can_respond_to_pair(client, pair):
        raise _refusal("There is nothing waiting for your answer here.")
    if accept:
        pair.member_for(client.id).accepted_at = utcnow()
        audit.record(client, "pair_accepted", client, pair)
    else:
        _end(client, pair, "declined")
    db.session.commit()


def _end(actor: User, pair: Pair, reason: str) -> None:
    """End the pair and every share of its members (the caller holds the pair and commits)."""
    pair.ended_at = utcnow()
    pair.ended_by_id = actor.id
    pair.end_reason = reason
    audit.record(actor, f"pair_{reason}", None, pair)
    # Sharing ends with the pair: a share is consent given to this partner in this link, and
    # must not resurface for whoever she is linked with next (or for the same partner after a
    # new link) without a fresh choice.
    still_shared = db.session.scalars(
        sa.select(Reflection).where(Reflection.author_id.in_([m.user_id for m in pair.members]),
                                    Reflection.shared_at.is_not(None))
        .execution_options(populate_existing=True)  # as committed, not as this request loaded them
    ).all()
    for reflection in still_shared:
        reflection.shared_at = None
        audit.record(actor, "reflection_share_ended_with_pair", reflection.author, reflection)
    retract_share_notices(user_ids=[m.user_id for m in pair.members])


def leave_pair(client: User, pair: Pair) -> None:
    """A member leaves: at once, neither can read anything the other had shared."""
    hold_pair(pair)
    if not policy.can_leave_pair(client, pair):
        raise _refusal("You are not in this pair any more.")
    _end(client, pair, "left")
    db.session.commit()


def dissolve_pair(therapist: User, pair: Pair) -> None:
    """Their therapist ends the pair: sharing stops at once both ways."""
    hold_pair(pair)
    if not policy.can_dissolve_pair(therapist, pair):
        raise _refusal("This pair has already ended.")
    _end(therapist, pair, "dissolved")
    db.session.commit()


def member_prompts(exercise: Exercise, label: str) -> list[str]:
    """The prompts worded for this member (e.g. the mother's version) when the exercise has them."""
    worded = (exercise.member_prompts or {}).get(label)
    if isinstance(worded, list) and len(worded) == len(exercise.prompts) and all(worded):
        return list(worded)
    return list(exercise.prompts)


def assign_to_pair(therapist: User, pair: Pair, exercise: Exercise, *, due_date: date, today: date,
                   note: str = "", reveal_together: bool = False, repeat: str = "none",
                   times: int = 1, once_key: str | None = None) -> list[PairExercise]:
    """One exercise for the pair: each member gets her own task, in her own wording. Repeating,
    each time is a pair exercise of its own (its own turns, its own reveal). The same form
    posted again (its one-time key) gives nothing and returns what the first gave."""
    if not policy.can_assign_to_pair(therapist, pair) or not policy.can_view_exercise(therapist, exercise):
        raise Forbidden()
    if not once.first_time(therapist, once_key, "pair_assigned"):
        return [db.session.get(PairExercise, i) for i in once.earlier(therapist, once_key)["ids"]]
    if exercise.archived_at is not None:
        raise AssignmentError("This exercise is archived; restore it first.", "exercise_id")
    dates = occurrence_dates(due_date, today, repeat, times)
    pair_exercises = give_to_pair(therapist, pair, exercise, dates, note, reveal_together)
    once.remember(therapist, once_key, ids=[p.id for p in pair_exercises])
    db.session.commit()
    return pair_exercises


def give_to_pair(therapist: User, pair: Pair, exercise: Exercise, dates: list[date],
                 note: str = "", reveal_together: bool = False) -> list[PairExercise]:
    """The pair exercises of one assignment (one per date), each member's task in her own
    wording, the audit rows and both notifications, in the caller's transaction: the caller
    commits (assign_to_pair; the library's assigning to several at once). The pair is held first:
    an exercise given as the pair ends is refused, never left on an ended pair."""
    hold_pair(pair)
    if not policy.can_assign_to_pair(therapist, pair) or not policy.can_view_exercise(therapist, exercise):
        raise Forbidden()
    series = {m.user_id: secrets.token_hex(8) if len(dates) > 1 else None for m in pair.members}
    pair_exercises = []
    for i, due in enumerate(dates):
        pair_exercise = PairExercise(pair_id=pair.id, therapist_id=therapist.id, title=exercise.title,
                                     reveal_together=bool(reveal_together))
        db.session.add(pair_exercise)
        db.session.flush()
        for member in pair.members:
            task = Assignment(
                client_id=member.user_id, therapist_id=therapist.id, exercise_id=exercise.id,
                exercise_version=exercise.version, family=exercise.family, title=exercise.title,
                instructions=exercise.instructions, prompts=member_prompts(exercise, member.label),
                sharing=sharing_for(exercise.family), note=(note or "").strip(), due_date=due,
                status=TASK_OPEN, pair_exercise_id=pair_exercise.id, series_key=series[member.user_id],
                occurrence=i + 1, occurrences=len(dates),
            )
            db.session.add(task)
            db.session.flush()
            audit.record(therapist, "task_assigned", member.user, task)
        pair_exercises.append(pair_exercise)
    for member in pair.members:
        notify(member.user, "new_task", "/home")
    return pair_exercises


def share(client: User, reflection: Reflection) -> User | None:
    """Share a sent reflection with her partner. The decision is policy.can_share_reflection
    (the rule the button asks); a refusal says which part of it is missing; nothing changes.
    Returns the person who may now read it (None if it was shared already)."""
    if not policy.is_author(client, reflection):
        raise Forbidden()
    hold_her_pair(client)
    db.session.refresh(reflection, ["status", "deleted_at", "shared_at"])
    if reflection.shared_at is not None:
        db.session.rollback()
        return None  # already shared: sharing twice changes nothing
    if not policy.can_share_reflection(client, reflection):
        raise _refusal(_why_not_shareable(client, reflection))
    reader = share_in_transaction(client, reflection)
    db.session.commit()
    return reader


def share_in_transaction(client: User, reflection: Reflection) -> User | None:
    """Share within the caller's transaction (sending and sharing in one step commit together);
    None, and nothing changed, when policy does not allow it. The caller holds her pair
    (hold_her_pair) before its first write: the decision here reads the pair as it is."""
    if not policy.can_share_reflection(client, reflection):
        return None
    reflection.shared_at = utcnow()
    audit.record(client, "reflection_shared", client, reflection)
    return announce_share(client, reflection)


def _why_not_shareable(client: User, reflection: Reflection) -> str:
    """The sentence for a refused share, from the named parts of the rule."""
    if policy.never_shareable(reflection.assignment):
        return ("Reflections on safety and boundaries are only ever for your therapist; "
                "they cannot be shared.")
    if not policy.shareable(reflection):
        return "Send your reflection first; then you can choose to share it."
    return "You can share once both of you have accepted the link."


def withdraw(client: User, reflection: Reflection) -> User | None:
    """Stop sharing: her partner loses access at once. Returns who could read it (if linked)."""
    hold_her_pair(client)
    db.session.refresh(reflection, ["shared_at"])
    if not policy.can_withdraw_share(client, reflection):
        raise _refusal("This reflection is not shared.")
    reflection.shared_at = None
    retract_share_notices(reflection_ids=[reflection.id])
    audit.record(client, "reflection_share_withdrawn", client, reflection)
    db.session.commit()
    pair = policy.active_pair_of(client)
    return pair.partner_of(client.id).user if pair is not None else None
