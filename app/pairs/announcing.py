"""What the other member is told when one of them shares a reflection on a pair exercise (and
what both are told at the reveal): one notification each, its words from pairs.turns.

- reveal together, the other has not sent yet: "Your mother has answered — send yours…" (her turn);
- reveal together, the other had sent and shared hers: the reveal, one notice to each member
  (and the sender's own 'your turn' goes: it is done);
- anything else: "Your mother shared a reflection with you"."""
from __future__ import annotations

from app import policy
from app.models import TASK_OPEN, Reflection, User
from app.notifications.services import notify, retract_turn_notices, reveal_link, share_link
from app.pairs.turns import notice_text


def announce_share(client: User, reflection: Reflection) -> User:
    """Tell the other member (the caller commits). Returns who may now read it, or will at the reveal."""
    reader = policy.active_pair_of(client).partner_of(client.id).user
    task = reflection.assignment
    pair_exercise = task.pair_exercise
    if pair_exercise is not None and pair_exercise.reveal_together:
        theirs = next((t for t in pair_exercise.tasks
                       if t.client_id == reader.id and t.deleted_at is None), None)
        if policy.reveal_waiting(reflection):
            if theirs is not None and theirs.status == TASK_OPEN:
                tell(reader, "pair_turn", f"/tasks/{theirs.id}")
            return reader
        if theirs is not None and policy.partner_can_read(client, theirs.reflection):
            retract_turn_notices(client, task.id)
            for member in (client, reader):
                tell(member, "pair_revealed", reveal_link(pair_exercise.id))
            return reader
    tell(reader, "partner_shared", share_link(reflection.id))
    return reader


def tell(user: User, kind: str, link: str) -> None:
    """One pair notification, its email saying the same sentence (never anything written)."""
    notify(user, kind, link, sentence=notice_text(user, kind))
