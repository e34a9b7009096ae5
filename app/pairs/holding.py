"""Taking turns on a pair. Every change of a pair's state (accepting, declining, leaving,
dissolving) and of what its members share (sharing, stopping, sending and sharing in one step,
replying) first holds the pair's row, then decides on what it reads afresh: of two such changes
at the same moment, the second decides on what the first committed. (A share checked against a
linked pair while the pair's end clears the shares it can see would otherwise survive the end,
and resurface for whoever she is linked with next.)

PostgreSQL locks the row until commit (SELECT ... FOR UPDATE), and the pair and its members are
read again after the wait (READ COMMITTED: the next statement sees the other's commit); SQLite
takes its one write lock for it instead (app/core/database.py). The pair is always held first,
before a pair exercise and before any write, so two requests never wait for each other."""
from __future__ import annotations

import sqlalchemy as sa

from app import policy
from app.accounts.services import hold_account
from app.extensions import db
from app.models import Pair, User

# The pair, locked, and read again over what this request loaded before (its members, loaded
# with it, too): the decision that follows sees the state the last change committed.
# FOR NO KEY UPDATE on PostgreSQL: changes of the pair wait for each other, while rows that merely
# point at it (a pair exercise, a notice) are written without waiting.
_HELD = (sa.select(Pair).where(Pair.id == sa.bindparam("pair_id"))
         .with_for_update(of=Pair, key_share=True).execution_options(populate_existing=True))


def hold_pair(pair: Pair) -> Pair:
    """Hold this pair until the transaction ends; its state (ended, who accepted) read afresh."""
    db.session.scalars(_HELD, {"pair_id": pair.id}).all()  # fetched: the rows are read into it
    return pair


def hold_clients(*clients: User) -> None:
    """Hold the clients' rows (hold_account, in id order, so two requests never wait for each
    other) while a pair of them is made: two links proposed at once for the same client, the
    second waits and finds her in a pair."""
    for client in sorted(clients, key=lambda c: c.id):
        hold_account(client)


def hold_her_pair(client: User) -> Pair | None:
    """Her pair that has not ended (waiting or linked), held as hold_pair; None if she has none."""
    pair = policy.open_pair_of(client)
    return hold_pair(pair) if pair is not None else None
