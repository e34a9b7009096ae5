"""Notification services. Emails and pushes never carry content: only that something is new,
and a link.

They are written to the outbox with the notification, in the transaction that made it (never for
a change that was rolled back), and sent afterwards with retries (app/notifications/outbox.py)."""
from __future__ import annotations

from datetime import timedelta, timezone

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from werkzeug.exceptions import Forbidden

from app import policy
from app.core.clock import today_for
from app.extensions import db
from app.models import (
    TASK_OPEN,
    Assignment,
    Notification,
    PushSubscription,
    Reflection,
    ReminderSent,
    User,
    utcnow,
)
from app.notifications import outbox, quiet_hours

MESSAGES = {
    "new_task": "A new exercise from your therapist",
    "new_feedback": "New feedback on one of your reflections",
    "partner_shared": "A reflection was shared with you",
    "pair_invitation": "Your therapist proposes a pair link for you to accept or decline",
    "agenda_item": "A client added something to bring up next time",
    "reminder_due": "Reminder: an exercise is due tomorrow",
    "reminder_overdue": "An exercise is waiting for you",
    "new_reflection": "A new reflection to read",
    "pair_reply": "A reply to one of your answers",
    "pair_turn": "Your turn on a pair exercise",
    "pair_revealed": "Both of you have answered a pair exercise — open the reveal",
    "new_message": "A new message",
    "session_scheduled": "Your therapist scheduled a session with you",
    "session_moved": "A session with your therapist was moved",
    "session_cancelled": "A session with your therapist was cancelled",
}
# What a pair's events tell whom: the turn and the reveal ("your mother has answered"), a share.
PAIR_KINDS = ("partner_shared", "pair_turn", "pair_revealed", "pair_reply")
EMAIL_SUBJECT = "You have something new in Common Ground"
NEW_MESSAGE_SUBJECT = "You have a new message in Common Ground"
PER_PAGE = 20


def absolute_link(link: str) -> str:
    base = current_app.config.get("SERVER_BASE_URL")
    if not base and has_request_context():
        base = request.host_url
    return (base or "http://127.0.0.1:5000").rstrip("/") + link


def notify(user: User, kind: str, link: str, sentence: str | None = None) -> Notification:
    """Add an in-app notification and, in the same transaction, what tells her of it: an email
    if she asked for them one by one (not for the daily digest), a push to each device she turned
    push on for, both after her quiet hours (the caller commits; the outbox sends afterwards).
    `sentence` (a pair's turn, from pairs.turns) goes into the email: never anything written."""
    note = Notification(user_id=user.id, kind=kind, link=link)
    db.session.add(note)
    if not user.is_active:
        return note
    not_before = quiet_hours.send_after(user)
    if user.email_notifications and not user.email_digest:
        outbox.queue_email(user.email, email_subject(kind), email_body(absolute_link(link), sentence, kind),
                           purpose="notification", user=user, not_before=not_before)
    devices = db.session.scalars(sa.select(PushSubscription).where(PushSubscription.user_id == user.id)).all()
    if devices:
        from app.notifications import push
        for device in devices:
            outbox.queue_push(device, push.push_payload(kind, link), purpose="notification",
                              not_before=not_before)
    return note


def email_subject(kind: str) -> str:
    return NEW_MESSAGE_SUBJECT if kind == "new_message" else EMAIL_SUBJECT


def email_body(link: str, sentence: str | None = None, kind: str | None = None) -> str:
    """The whole email: that something is new (a pair's turn in one sentence), and a link."""
    if sentence:
        news = f"{sentence}\n\n"
    elif kind == "new_message":
        news = "You have a new message in Common Ground. "
    else:
        news = "You have something new in Common Ground. "
    return (f"Hello,\n\n{news}For your privacy this email says nothing more; sign in to see it:"
            f"\n\n{link}\n\nYou can turn these emails off on your Account page.\n")


def unread_count(user: User) -> int:
    """Her unread notifications: counted by the login loader with the session check, or here."""
    counted = getattr(user, "unread_notifications", None)
    if counted is not None:
        return counted
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))


def page_of(user: User, page: int):
    """A page of her notifications, newest first (policy's scope: hers alone)."""
    query = policy.visible_notifications(user).order_by(Notification.created_at.desc(),
                                                         Notification.id.desc())
    return db.paginate(query, page=min(max(page, 1), 100_000), per_page=PER_PAGE, error_out=False)


def open_notification(user: User, note: Notification) -> str:
    """Mark it read and return where it leads (only ever a local path)."""
    if not policy.can_open_notification(user, note):
        raise Forbidden()
    if note.read_at is None:
        note.read_at = utcnow()
        db.session.commit()
        user.unread_notifications = None  # counted again when next shown
    return note.link if note.link.startswith("/") and not note.link.startswith("//") else "/"


def share_link(reflection_id: int) -> str:
    """Where a 'shared with you' notification leads: that reflection on the Shared page."""
    return f"/shared#shared-{reflection_id}"


def reveal_link(pair_exercise_id: int) -> str:
    """Where 'open the reveal' leads."""
    return f"/pairs/exercises/{pair_exercise_id}/reveal"


def retract_share_notices(reflection_ids: list[int] | None = None,
                          user_ids: list[int] | None = None) -> None:
    """A share that ended (withdrawn, pair ended, reflection deleted) is no longer announced
    (the caller commits): its 'shared with you' notifications go, and on a pair exercise the
    other member's 'your turn' and 'open the reveal' ones. A pair that ended takes every pair
    notice of its members with it, and their "new message" notices of its thread (which they no
    longer read; a client is in one pair at a time)."""
    if user_ids is not None:
        _delete_notices(Notification.kind.in_(PAIR_KINDS), Notification.user_id.in_(user_ids))
        _delete_notices(Notification.kind == "new_message", Notification.user_id.in_(user_ids),
                        Notification.link.startswith("/messages/pairs/", autoescape=True))
    if reflection_ids:
        _delete_notices(Notification.kind == "partner_shared",
                        Notification.link.in_([share_link(i) for i in reflection_ids]))
        author = aliased(Assignment)
        others = db.session.execute(
            sa.select(Assignment.id, Assignment.client_id, Assignment.pair_exercise_id)
            .join(author, sa.and_(author.pair_exercise_id == Assignment.pair_exercise_id,
                                  author.client_id != Assignment.client_id))
            .join(Reflection, Reflection.assignment_id == author.id)
            .where(Reflection.id.in_(reflection_ids))).all()
        for task_id, reader_id, pair_exercise_id in others:
            _delete_notices(Notification.user_id == reader_id, sa.or_(
                sa.and_(Notification.kind == "pair_turn", Notification.link == f"/tasks/{task_id}"),
                sa.and_(Notification.kind == "pair_revealed",
                        Notification.link == reveal_link(pair_exercise_id))))


def retract_turn_notices(client: User, task_id: int) -> None:
    """She has sent hers: 'your turn' on this task is no longer news (the caller commits)."""
    _delete_notices(Notification.user_id == client.id, Notification.kind == "pair_turn",
                    Notification.link == f"/tasks/{task_id}")
    client.unread_notifications = None


def reveal_notices_read(client: User, pair_exercise_id: int) -> None:
    """She opened the reveal: its 'open the reveal' notice is read (the caller commits)."""
    db.session.execute(sa.update(Notification).where(
        Notification.user_id == client.id, Notification.kind == "pair_revealed",
        Notification.link == reveal_link(pair_exercise_id), Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False))
    client.unread_notifications = None


def _delete_notices(*where) -> None:
    db.session.execute(sa.delete(Notification).where(*where).execution_options(synchronize_session=False))


def feedback_notices_read(client: User, task_id: int, at) -> None:
    """The 'new feedback' notifications of one task are read (the caller commits)."""
    db.session.execute(sa.update(Notification).where(
        Notification.user_id == client.id, Notification.kind == "new_feedback",
        Notification.link == f"/tasks/{task_id}", Notification.read_at.is_(None)).values(read_at=at))
    client.unread_notifications = None


def mark_all_read(user: User) -> None:
    """Everything read: the notifications, and the 'new feedback' marks they announced."""
    now = utcnow()
    db.session.execute(sa.update(Notification).where(Notification.user_id == user.id,
                                                     Notification.read_at.is_(None))
                       .values(read_at=now))
    db.session.execute(sa.update(Reflection).where(
        Reflection.author_id == user.id, Reflection.last_feedback_at.is_not(None),
        sa.or_(Reflection.feedback_seen_at.is_(None),
               Reflection.feedback_seen_at < Reflection.last_feedback_at))
        .values(feedback_seen_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    user.unread_notifications = None


def send_reminders(now=None) -> dict:
    """Reminders for open tasks due tomorrow and for overdue ones, each at most once per task
    and kind (a unique key), so running it twice sends nothing twice."""
    sent = {"reminder_due": 0, "reminder_overdue": 0}
    now = now or utcnow()
    # The furthest-ahead zone's tomorrow is at most two days after the UTC date of `now` (not
    # the server's own date, which may lag behind in its zone or differ from a given `now`).
    horizon = now.astimezone(timezone.utc).date() + timedelta(days=2)
    candidates = db.session.scalars(
        sa.select(Assignment).join(Assignment.client)
        .where(Assignment.status == TASK_OPEN, User.closed_at.is_(None),
               Assignment.deleted_at.is_(None), Assignment.due_date <= horizon)
    ).all()
    for task in candidates:
        today = today_for(task.client, now)
        if task.due_date == today + timedelta(days=1):
            kind = "reminder_due"
        elif task.due_date < today:
            kind = "reminder_overdue"
        else:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(ReminderSent(assignment_id=task.id, kind=kind.removeprefix("reminder_")))
        except IntegrityError:
            continue  # already reminded
        notify(task.client, kind, f"/tasks/{task.id}")
        db.session.commit()
        sent[kind] += 1
    # An "already reminded" leaves the transaction open (only its savepoint was rolled back):
    # end it, so that no lock is held by whoever called this.
    db.session.commit()
    return sent
