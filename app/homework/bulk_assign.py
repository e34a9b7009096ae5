"""Giving one exercise to several clients and pairs at once, from the library.

Each client gets exactly what assigning to her alone gives (tasks.give_exercise: the task, its
audit row, her notification), each pair what assigning to the pair gives (pairs' give_to_pair),
all in one transaction: either everyone chosen gets it, or nobody does. The form's one-time key
makes a second post of the same form give nothing more."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import policy
from app.core import once
from app.core.clock import today_for
from app.extensions import db
from app.homework.tasks import AssignmentError, check_due_date, give_exercise
from app.models import Exercise, Pair, User
from app.pairs.services import give_to_pair


@dataclass
class Given:
    """Who got the exercise (or, for the same form posted again, who got it the first time)."""

    clients: list[User]
    pairs: list[Pair]
    tasks: int

    def names(self) -> list[str]:
        return [c.name for c in self.clients] + [
            " & ".join(m.user.name for m in p.members) for p in self.pairs]


def recipients(therapist: User) -> tuple[list[User], list[Pair]]:
    """Her clients whose accounts are open, by name, and her linked pairs: whom she may give an
    exercise to now (policy.can_assign_to, policy.can_assign_to_pair)."""
    clients = db.session.scalars(policy.visible_clients(therapist)
                                 .order_by(sa.func.lower(User.name), User.id))
    pairs = db.session.scalars(policy.visible_pairs(therapist).where(Pair.ended_at.is_(None))
                               .order_by(Pair.id))
    return ([c for c in clients if policy.can_assign_to(therapist, c)],
            [p for p in pairs if policy.can_assign_to_pair(therapist, p)])


def _chosen_clients(therapist: User, ids: list[int | None]) -> list[User]:
    """The clients ticked, each hers and open; else a sentence for the form, nothing given."""
    wanted = list(dict.fromkeys(ids))
    if None in wanted:
        raise AssignmentError("One of the people chosen is not one of your clients. Nothing was "
                              "assigned.", "clients")
    found = {c.id: c for c in db.session.scalars(policy.visible_clients(therapist).where(User.id.in_(wanted)))}
    if len(found) != len(wanted):
        raise AssignmentError("One of the people chosen is not one of your clients. Nothing was "
                              "assigned.", "clients")
    for client in found.values():
        if not policy.can_assign_to(therapist, client):
            raise AssignmentError(f"{client.name}’s account is closed, so nothing was assigned. "
                                  "The list below is up to date: choose again.", "clients")
    return [found[i] for i in wanted]


def _chosen_pairs(therapist: User, ids: list[int | None]) -> list[Pair]:
    """The pairs ticked, each hers and linked; else a sentence for the form, nothing given."""
    wanted = list(dict.fromkeys(ids))
    found = {p.id: p for p in db.session.scalars(policy.visible_pairs(therapist)
                                                 .where(Pair.id.in_([i for i in wanted if i is not None])))}
    if len(found) != len(wanted):
        raise AssignmentError("One of the pairs chosen is not one of yours. Nothing was assigned.", "pairs")
    for pair in found.values():
        if not policy.can_assign_to_pair(therapist, pair):
            names = " & ".join(m.user.name for m in pair.members)
            raise AssignmentError(f"{names} are not linked as a pair any more, so nothing was "
                                  "assigned. The list below is up to date: choose again.", "pairs")
    return [found[i] for i in wanted]


def _check_due_date(due_date: date, therapist: User, clients: list[User], pairs: list[Pair]) -> None:
    """The date must not be past on anyone's own calendar (time zones differ)."""
    check_due_date(due_date, today_for(therapist))
    people = clients + [m.user for p in pairs for m in p.members]
    for person in people:
        try:
            check_due_date(due_date, today_for(person))
        except AssignmentError:
            raise AssignmentError(f"Where {person.name} lives that day is already over: choose a "
                                  "later date.", "due_date") from None


def _earlier(therapist: User, once_key: str | None) -> Given:
    """What the first post of this form gave (its one-time key kept the ids)."""
    made = once.earlier(therapist, once_key)
    clients = db.session.scalars(policy.visible_clients(therapist).where(User.id.in_(made.get("clients", []))))
    pairs = db.session.scalars(policy.visible_pairs(therapist).where(Pair.id.in_(made.get("pairs", []))))
    return Given(clients=list(clients), pairs=list(pairs), tasks=made.get("tasks", 0))


def assign_to_many(therapist: User, exercise: Exercise, *, client_ids: list[int | None],
                   pair_ids: list[int | None], due_date: date, note: str = "",
                   reveal_together: bool = True, once_key: str | None = None) -> Given:
    """Give the exercise once, due `due_date`, to each client and each pair chosen, in one
    transaction. Anyone who may not get it (not hers, a closed account, a pair that ended)
    refuses the whole form with a sentence, and nothing is assigned."""
    if not policy.can_view_exercise(therapist, exercise):
        raise Forbidden()
    if not policy.can_assign_exercise(therapist, exercise):
        raise AssignmentError("This exercise is archived; restore it first.")
    if not once.first_time(therapist, once_key, "tasks_assigned_to_several"):
        return _earlier(therapist, once_key)
    try:
        clients = _chosen_clients(therapist, client_ids)
        pairs = _chosen_pairs(therapist, pair_ids)
        if not clients and not pairs:
            raise AssignmentError("Choose at least one client or pair.", "clients")
        in_pairs = {m.user_id: p for p in pairs for m in p.members}
        twice = [c for c in clients if c.id in in_pairs]
        if twice:
            raise AssignmentError(f"{twice[0].name} is chosen both alone and as one of a pair: "
                                  "choose one, so that the exercise is given once.", "clients")
        _check_due_date(due_date, therapist, clients, pairs)
        tasks = [t for c in clients for t in give_exercise(therapist, c, exercise, [due_date], note)]
        pair_exercises = [pe for p in pairs
                          for pe in give_to_pair(therapist, p, exercise, [due_date], note, reveal_together)]
    except Exception:
        db.session.rollback()  # nothing of this form stays: not a task, not its one-time key
        raise
    count = len(tasks) + 2 * len(pair_exercises)
    once.remember(therapist, once_key, clients=[c.id for c in clients], pairs=[p.id for p in pairs],
                  tasks=count)
    db.session.commit()
    return Given(clients=clients, pairs=pairs, tasks=count)
