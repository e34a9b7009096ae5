"""Reading the audit trail. Rows hold who, what, which object, when and from where: never content.

A therapist reads every row about one of her clients (and that reading is itself a row); a client
reads who else opened or changed her record, in plain words, minus what would reveal the
therapist's private notes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.extensions import db
from app.models import AuditEvent, PairMember, User

PER_PAGE = 50
MAX_PAGE = 100_000  # a page number beyond any real trail (and within any database's OFFSET)
READ_AUDIT_TRAIL = "read_audit_trail"

# What each action means, for the therapist's page. An action missing here is shown by its code.
ACTION_LABELS = {
    "read_client_page": "Opened the client page",
    "read_reflection": "Read a reflection",
    "read_session": "Opened a session",
    "read_session_prep": "Opened session prep",
    "read_pair_page": "Opened the pair page",
    "read_partner_reflection": "Pair partner read a shared reflection",
    "read_progress": "Looked at progress",
    READ_AUDIT_TRAIL: "Looked at this audit trail",
    "record_exported": "Exported the whole record",
    "account_closed": "Closed the account",
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "password_changed": "Changed the password",
    "password_reset_requested": "Asked for a password reset",
    "password_reset": "Reset the password",
    "account_updated": "Changed account settings",
    "invitation_accepted": "Accepted the invitation",
    "task_assigned": "Gave a task",
    "task_due_date_changed": "Changed a due date",
    "task_cancelled": "Cancelled a task",
    "task_reopened": "Reopened a task",
    "task_deleted": "Deleted a task",
    "task_restored": "Restored a deleted task",
    "task_purged": "A deleted task was removed for good",
    "reflection_deleted": "Deleted a reflection",
    "reflection_restored": "Restored a deleted reflection",
    "reflection_purged": "A deleted reflection was removed for good",
    "reflection_submitted": "Sent a reflection",
    "addendum_added": "Added to a reflection",
    "reflection_marked_urgent": "Marked a reflection urgent",
    "feedback_given": "Wrote feedback",
    "annotation_added": "Added a private annotation",
    "reflection_reviewed": "Marked a reflection reviewed",
    "reflection_shared": "Shared a reflection with the pair partner",
    "reflection_share_withdrawn": "Stopped sharing a reflection",
    "reflection_share_ended_with_pair": "Sharing ended with the pair",
    "pair_proposed": "Proposed a pair link",
    "pair_accepted": "Accepted the pair link",
    "session_recorded": "Recorded a session",
    "member_note_added": "Wrote a note on a pair session",
    "member_note_edited": "Edited a note on a pair session",
    "session_comment_added": "Commented on session notes",
    "agenda_item_added": "Added something to bring up",
    "agenda_item_ticked": "Ticked off an agenda item",
    "agenda_item_reopened": "Reopened an agenda item",
    "read_messages": "Read the messages",
    "message_sent": "Sent a message",
    "message_hours_changed": "Changed when messages are read",
    "push_turned_on": "Turned on notifications on a device",
    "push_turned_off": "Turned off notifications on a device",
    "push_moved_from_another_account": "Took over a device's notifications from another account",
}

# What a client is told about someone else's action in her record. Reads are always shown (an
# unlabelled read_* action gets GENERIC_READ); other actions only when listed here. Left out on
# purpose: annotation_added (a private annotation must not be revealed, not even that it exists).
CLIENT_LABELS = {
    "read_client_page": "opened your page",
    "read_reflection": "read your reflection",
    "read_session": "opened the notes of a session with you",
    "read_session_prep": "read what you sent since your last session, to prepare",
    "read_pair_page": "opened the page of your pair",
    "read_partner_reflection": "read a reflection you shared",
    "read_progress": "looked at your progress",
    READ_AUDIT_TRAIL: "looked at the log of who opened your record",
    "record_exported": "downloaded a copy of your whole record",
    "feedback_given": "wrote feedback on your reflection",
    "reflection_reviewed": "marked your reflection as read",
    "task_assigned": "gave you a task",
    "task_due_date_changed": "changed the due date of a task",
    "task_cancelled": "cancelled a task",
    "task_reopened": "reopened a task",
    "task_deleted": "deleted a task",
    "task_restored": "restored a task",
    "reflection_deleted": "removed one of your reflections",
    "reflection_restored": "restored one of your reflections",
    "agenda_item_ticked": "ticked off something you wanted to bring up",
    "agenda_item_reopened": "reopened something you wanted to bring up",
    "session_recorded": "recorded a session with you",
    "pair_proposed": "proposed a pair link for you to accept or decline",
    "reflection_share_ended_with_pair": "ended your pair, so a reflection you shared is no longer shared",
    "account_closed": "closed your account",
    "read_messages": "read your messages",
    "message_sent": "sent you a message",
    "read_reflection_preview": "saw the first lines of your reflection in her list of reflections to read",
    "read_session_schedule": "looked at when and where your sessions are",
    "session_scheduled": "scheduled a session with you",
    "session_rescheduled": "moved a session with you",
    "session_cancelled": "cancelled a session with you",
}
CLIENT_HIDDEN = {"annotation_added"}
GENERIC_READ = "opened part of your record"


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action.replace("_", " ").capitalize())


def client_label(action: str) -> str | None:
    """The plain-language label a client sees, or None when the row is not shown to her."""
    if action in CLIENT_HIDDEN:
        return None
    if action in CLIENT_LABELS:
        return CLIENT_LABELS[action]
    return GENERIC_READ if action.startswith("read_") else None


def _client_visible_actions() -> sa.ColumnElement[bool]:
    listed = [a for a in CLIENT_LABELS if a not in CLIENT_HIDDEN]
    return sa.and_(
        sa.or_(AuditEvent.action.in_(listed), AuditEvent.action.startswith("read_", autoescape=True)),
        AuditEvent.action.not_in(CLIENT_HIDDEN),
    )


# --- filters --------------------------------------------------------------------------------

@dataclass
class TrailFilter:
    """The therapist's filter: one action, and a range of days on her own calendar."""

    action: str = ""
    date_from: date | None = None
    date_to: date | None = None
    errors: list[str] = field(default_factory=list)

    def args(self) -> dict:
        """The query string that reproduces this filter (for the pager)."""
        values = {"action": self.action or None,
                  "from": self.date_from.isoformat() if self.date_from else None,
                  "to": self.date_to.isoformat() if self.date_to else None}
        return {k: v for k, v in values.items() if v}


def _parse_day(value: str | None, label: str, errors: list[str]) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    day = None
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:  # 2024-02-30 has the right shape and is still no date
            day = None
    if day is None or day.year < 1970:
        errors.append(f"The {label} date is not a date (use the form YYYY-MM-DD); it was left out.")
        return None
    return day


def parse_filter(args, actions: list[str]) -> TrailFilter:
    """Read the query string. Unknown actions and malformed dates are left out, with a message."""
    errors: list[str] = []
    action = (args.get("action") or "").strip()
    if action and action not in actions:
        action = ""
    date_from = _parse_day(args.get("from"), "start", errors)
    date_to = _parse_day(args.get("to"), "end", errors)
    if date_from and date_to and date_from > date_to:
        errors.append("The start date is after the end date; the dates were swapped.")
        date_from, date_to = date_to, date_from
    return TrailFilter(action, date_from, date_to, errors)


def _utc_bounds(trail_filter: TrailFilter, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """From the start of `from` to the end of `to`, on the reader's calendar, in UTC."""
    start = end = None
    if trail_filter.date_from:
        start = datetime.combine(trail_filter.date_from, time.min, tzinfo=zone).astimezone(timezone.utc)
    if trail_filter.date_to and trail_filter.date_to < date.max:
        end = datetime.combine(trail_filter.date_to + timedelta(days=1), time.min,
                               tzinfo=zone).astimezone(timezone.utc)
    return start, end


# --- the therapist's page -------------------------------------------------------------------

def _page(page) -> int:
    return min(max(page or 1, 1), MAX_PAGE)


@dataclass
class TrailRow:
    event: AuditEvent
    actor: User | None
    label: str


def actions_for(client: User) -> list[str]:
    """The actions that occur in this client's trail, for the filter's choices."""
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.subject_id == client.id)
        .distinct().order_by(AuditEvent.action)))


def _actors(events) -> dict[int, User]:
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def open_trail(therapist: User, client: User, trail_filter: TrailFilter, zone: ZoneInfo, page: int):
    """One page (newest first) of the rows about this client; the reading is itself recorded."""
    if not policy.can_view_audit_of(therapist, client):
        raise Forbidden()
    audit.record(therapist, READ_AUDIT_TRAIL, client, client)
    db.session.commit()
    query = sa.select(AuditEvent).where(AuditEvent.subject_id == client.id)
    if trail_filter.action:
        query = query.where(AuditEvent.action == trail_filter.action)
    start, end = _utc_bounds(trail_filter, zone)
    if start is not None:
        query = query.where(AuditEvent.at >= start)
    if end is not None:
        query = query.where(AuditEvent.at < end)
    pagination = db.paginate(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()),
                             page=_page(page), per_page=PER_PAGE, error_out=False)
    actors = _actors(pagination.items)
    rows = [TrailRow(e, actors.get(e.actor_id), action_label(e.action)) for e in pagination.items]
    return pagination, rows


# --- the client's own page ------------------------------------------------------------------

def _relation(client: User, actor: User | None, relations: dict[int, str]) -> str:
    """Who the reader was to her, in her words: "your therapist", "your daughter"."""
    if actor is None:
        return ""
    if actor.id == client.therapist_id:
        return "your therapist"
    if actor.id in relations:
        return f"your {relations[actor.id]}"
    return "your therapist's practice" if actor.is_therapist else ""


def _pair_relations(client: User) -> dict[int, str]:
    """Everyone she has ever been in a pair with, and the relation the pair chose for each
    (a past member's reads stay labelled)."""
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    return {user_id: label for user_id, label in db.session.execute(sa.select(
        PairMember.user_id, PairMember.label).where(PairMember.pair_id.in_(pair_ids),
                                                    PairMember.user_id != client.id))}


@dataclass
class ActivityRow:
    at: datetime
    who: str
    relation: str
    label: str


def activity_of(client: User, page: int):
    """Who else opened or changed her record, newest first, in plain words. Never content."""
    if not policy.can_view_own_activity(client):
        raise Forbidden()
    query = (sa.select(AuditEvent)
             .where(AuditEvent.subject_id == client.id, AuditEvent.actor_id.is_not(None),
                    AuditEvent.actor_id != client.id, _client_visible_actions())
             .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()))
    pagination = db.paginate(query, page=_page(page), per_page=PER_PAGE, error_out=False)
    actors = _actors(pagination.items)
    partners = _pair_relations(client) if pagination.items else {}
    rows = []
    for event in pagination.items:
        actor = actors.get(event.actor_id)
        rows.append(ActivityRow(event.at, actor.name if actor else "Someone no longer at the practice",
                                _relation(client, actor, partners), client_label(event.action)))
    return pagination, rows
