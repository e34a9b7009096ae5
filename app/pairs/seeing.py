"""What each person sees of a pair: the therapist's pair page and its sessions, her pairs on the
caseload, a member's Shared page and the other member's side of a task (read, and audited)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.extensions import db
from app.models import (
    ROLE_THERAPIST,
    Assignment,
    Pair,
    PairExercise,
    PairMember,
    Reflection,
    User,
)
from app.models.pairs import linked


@dataclass
class PairRow:
    """One pair exercise on the therapist's pair page: a task and reflection per member."""

    pair_exercise: PairExercise
    by_member: dict  # user_id -> Assignment


def pair_overview(therapist: User, pair: Pair) -> list[PairRow]:
    """The pair's exercises, newest first, with both members' tasks and reflections loaded."""
    if not policy.can_view_pair(therapist, pair) or not policy.is_therapist(therapist):
        raise Forbidden()
    audit.record_reads(therapist, [(member.user, pair) for member in pair.members], "read_pair_page")
    exercises = db.session.scalars(
        sa.select(PairExercise).where(PairExercise.pair_id == pair.id)
        # The answers side by side, not the therapist's note nor the instructions (the note is
        # encrypted: decrypted for nothing).
        .options(joinedload(PairExercise.tasks).defer(Assignment.note),
                 joinedload(PairExercise.tasks).defer(Assignment.instructions),
                 joinedload(PairExercise.tasks).joinedload(Assignment.reflection))
        .order_by(PairExercise.created_at.desc(), PairExercise.id.desc())
    ).unique().all()
    # Deleted tasks are gone from the pair page too (and a row whose tasks are all deleted).
    rows = [PairRow(pe, {t.client_id: t for t in pe.tasks if t.deleted_at is None}) for pe in exercises]
    return [row for row in rows if row.by_member]


def partner_feed(client: User) -> dict:
    """What her partner shares with her: readable now, and waiting to be revealed."""
    pair = policy.active_pair_of(client)
    if pair is None:
        return {"pair": policy.open_pair_of(client), "readable": [], "waiting": []}
    query = (policy.shared_with(client)
             .options(selectinload(Reflection.author),
                      selectinload(Reflection.assignment).selectinload(Assignment.pair_exercise)
                      .selectinload(PairExercise.tasks).selectinload(Assignment.reflection))
             .order_by(Reflection.submitted_at.desc(), Reflection.id.desc()))
    rows = db.session.scalars(query).all()
    # shared_with() already limits the rows to what her linked partner sent and shares now, on
    # a shareable family; what partner_can_read adds to that is reveal_waiting(). Asking it row
    # by row would cost a query per reflection (it looks up the pair each time).
    readable_ids = [r.id for r in rows if not policy.reveal_waiting(r)]
    waiting_ids = [r.id for r in rows if r.id not in readable_ids]
    audit.record_reads(client, [(r.author, r) for r in rows if r.id in readable_ids],
                       "read_partner_reflection")
    return {"pair": pair, "readable": [r for r in rows if r.id in readable_ids],
            "waiting": [r for r in rows if r.id in waiting_ids]}


@dataclass(frozen=True)
class ListedPerson:
    name: str
    closed_at: datetime | None


@dataclass(frozen=True)
class ListedMember:
    label: str
    accepted_at: datetime | None
    user: ListedPerson


@dataclass
class ListedPair:
    """A pair as the caseload lists it (plain values: no account loaded whole)."""

    id: int
    ended_at: datetime | None
    end_reason: str | None
    members: list[ListedMember] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return linked(self.ended_at, self.members)


def pairs_of(therapist: User) -> list[ListedPair]:
    """Her pairs that have not ended, newest first, with their members' labels, names and
    whether each accepted: one statement of plain rows."""
    if not policy.is_therapist(therapist):
        return []
    pairs: dict[int, ListedPair] = {}
    for row in db.session.execute(_PAIRS_OF, {"therapist_id": therapist.id}):
        pair = pairs.setdefault(row.id, ListedPair(row.id, row.ended_at, row.end_reason))
        if row.label is not None:
            pair.members.append(ListedMember(row.label, row.accepted_at, ListedPerson(row.name, row.closed_at)))
    return list(pairs.values())


# Built once, for any therapist (her id bound when it runs); the rule is policy's visible_pairs.
_PAIRS_OF = (policy.visible_pairs(policy.Viewer(ROLE_THERAPIST, "therapist_id"))
             .where(Pair.ended_at.is_(None))
             .with_only_columns(Pair.id, Pair.ended_at, Pair.end_reason, PairMember.label,
                                PairMember.accepted_at, User.name, User.closed_at)
             .select_from(Pair)
             .outerjoin(PairMember, PairMember.pair_id == Pair.id)
             .outerjoin(User, User.id == PairMember.user_id)
             .order_by(Pair.created_at.desc(), Pair.id.desc(), PairMember.id))


@dataclass
class PartnerPanel:
    """What the task page shows of the other member's side of a pair exercise: her words when
    the reader may read them (every other state is told by turns.turn_of)."""

    partner: PairMember
    reflection: Reflection | None = None


def partner_panel(client: User, task: Assignment) -> PartnerPanel | None:
    """The other member's side of this pair exercise, as much as she may see (audited if read)."""
    pair_exercise = task.pair_exercise
    pair = policy.active_pair_of(client)
    if pair_exercise is None or pair is None or pair.id != pair_exercise.pair_id:
        return None
    partner = pair.partner_of(client.id)
    other = next((t for t in pair_exercise.tasks if t.client_id == partner.user_id), None)
    theirs = other.reflection if other is not None else None
    if theirs is not None and policy.partner_can_read(client, theirs):
        audit.record_read(client, partner.user, theirs, action="read_partner_reflection")
        return PartnerPanel(partner, theirs)
    return PartnerPanel(partner)


def open_shared_reflection(client: User, reflection: Reflection) -> None:
    """Her partner opens a reflection shared with her: recorded in the audit trail."""
    if not policy.partner_can_read(client, reflection):
        raise Forbidden()
    audit.record_read(client, reflection.author, reflection, action="read_partner_reflection")


def pair_sessions(therapist: User, pair: Pair) -> list:
    """The sessions held with this pair, newest first."""
    from app.models import TherapySession

    return list(db.session.scalars(
        policy.visible_sessions(therapist).where(TherapySession.pair_id == pair.id)
        .order_by(TherapySession.starts_at.desc()).limit(50)
    ))
