"""The outbox: every email and push is written in the same transaction as the change that causes
it, and sent afterwards — never inside a request, never lost while the mail server or a push
service is down, never sent twice by two deliverers.

- `queue_email` / `queue_push` add a row to the caller's transaction (a change rolled back takes
  its emails with it).
- `deliver_due` claims due rows (a lease: `claimed_until`; on PostgreSQL `FOR UPDATE SKIP LOCKED`,
  on SQLite the claiming UPDATE holds the write lock), commits the claim, sends each, and records
  the outcome at once: sent, or back to pending with a growing delay, or failed after the last try.
- Who calls `deliver_due`: in development and tests a thread of this process, woken after each
  commit that queued something (app/notifications/deliverer.py); in production `flask
  outbox-worker` (app/notifications/worker.py), woken through Redis when it is configured.

A worker that dies mid-send leaves its rows claimed; when the lease ends another takes them. An
email the server had already accepted when the worker died (the one window SMTP cannot close) is
sent again with the same Message-ID, so that it is recognisable as the same email.
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core import mail
from app.extensions import db
from app.models import (
    CHANNEL_EMAIL,
    CHANNEL_PUSH,
    OUTBOX_DROPPED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    OutboxItem,
    PushSubscription,
    User,
    utcnow,
)

log = logging.getLogger("common_ground.outbox")
_QUEUED = "common_ground_outbox_queued"  # session.info: this transaction queued something
# Sent whatever the person's quiet hours: what she has just asked for herself.
ASKED_FOR = ("reset", "invitation", "two_factor", "account_paused")


# --- writing to the outbox (inside the caller's transaction) ----------------------------------

def queue_email(to: str, subject: str, body: str, *, purpose: str, user: User | None = None,
                not_before: datetime | None = None) -> OutboxItem:
    """One email, sent after the caller commits (never if it rolls back)."""
    item = OutboxItem(channel=CHANNEL_EMAIL, purpose=purpose, recipient=to, subject=subject,
                      body=body, user_id=user.id if user is not None else None,
                      next_attempt_at=not_before or utcnow())
    return _add(item)


def queue_push(subscription: PushSubscription, payload: str, *, purpose: str,
               not_before: datetime | None = None) -> OutboxItem:
    """One push to one device, sent after the caller commits. `payload` (JSON, from
    push.push_payload) is content-free."""
    item = OutboxItem(channel=CHANNEL_PUSH, purpose=purpose, subscription_id=subscription.id,
                      user_id=subscription.user_id, body=payload,
                      next_attempt_at=not_before or utcnow())
    return _add(item)


def _add(item: OutboxItem) -> OutboxItem:
    db.session.add(item)
    db.session.info[_QUEUED] = True
    return item


# --- delivering ---------------------------------------------------------------------------------

def deliver_due(limit: int = 20, now: datetime | None = None) -> int:
    """Claim up to `limit` due items, send them, record each outcome; returns how many were
    claimed (0: nothing was due). Runs in its own transactions: never call it with work of the
    caller's own pending."""
    me = _deliverer_name()
    claimed = _claim(me, limit, now or utcnow())
    for item_id in claimed:
        _deliver_one(item_id, me)
    return len(claimed)


def _claim(me: str, limit: int, now: datetime) -> list[int]:
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    due = (sa.select(OutboxItem.id)
           .where(sa.or_(sa.and_(OutboxItem.status == OUTBOX_PENDING, OutboxItem.next_attempt_at <= now),
                         sa.and_(OutboxItem.status == OUTBOX_SENDING, OutboxItem.claimed_until < now)))
           .order_by(OutboxItem.id).limit(limit)
           .with_for_update(skip_locked=True))  # PostgreSQL; SQLite's UPDATE holds the write lock
    claimed = db.session.scalars(
        sa.update(OutboxItem).where(OutboxItem.id.in_(due.scalar_subquery()))
        .values(status=OUTBOX_SENDING, claimed_by=me, claimed_until=now + lease,
                attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return sorted(claimed)


def _deliver_one(item_id: int, me: str) -> None:
    item = _load_claimed(item_id, me)
    db.session.rollback()  # no transaction stays open while the mail server or push service answers
    if item is None:
        return
    outcome, error = _send(item)
    values: dict = {"claimed_until": None, "last_error": error}
    if outcome == OUTBOX_SENT:
        values.update(status=OUTBOX_SENT, sent_at=utcnow(), last_error=None)
    elif outcome == OUTBOX_DROPPED:
        values.update(status=OUTBOX_DROPPED)
    elif item.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        values.update(status=OUTBOX_FAILED)
        log.error("Outbox item %s (%s, %s) given up after %s attempts: %s",
                  item.id, item.channel, item.purpose, item.attempts, error)
    else:
        values.update(status=OUTBOX_PENDING, next_attempt_at=utcnow() + retry_delay(item.attempts))
        log.warning("Outbox item %s (%s) not sent (attempt %s), trying again later: %s",
                    item.id, item.channel, item.attempts, error)
    db.session.execute(sa.update(OutboxItem)
                       .where(OutboxItem.id == item_id, OutboxItem.claimed_by == me,
                              OutboxItem.status == OUTBOX_SENDING)
                       .values(**values).execution_options(synchronize_session=False))
    if item.subscription is not None:
        if outcome == OUTBOX_DROPPED:  # the push service says this device is gone: forget it
            db.session.execute(sa.delete(PushSubscription).where(PushSubscription.id == item.subscription.id))
        elif outcome == OUTBOX_SENT:
            db.session.execute(sa.update(PushSubscription).where(PushSubscription.id == item.subscription.id)
                               .values(last_sent_at=utcnow()))
    db.session.commit()


def _load_claimed(item_id: int, me: str) -> OutboxItem | None:
    """The claimed item, detached with all it needs (its device, whether its person is still
    there), so that sending holds no transaction open; None when it is no longer ours."""
    item = db.session.get(OutboxItem, item_id, populate_existing=True)
    if item is None or item.claimed_by != me or item.status != OUTBOX_SENDING:
        return None
    item.subscription = (db.session.get(PushSubscription, item.subscription_id)
                         if item.subscription_id else None)
    item.person_gone = item.purpose not in ASKED_FOR and item.user_id is not None and db.session.scalar(
        sa.select(User.closed_at).where(User.id == item.user_id)) is not None
    for loaded in (item, item.subscription):
        if loaded is not None:
            db.session.expunge(loaded)
    return item


def _send(item: OutboxItem) -> tuple[str, str | None]:
    """Send one item: (outcome, error). Never raises for a delivery failure."""
    if item.person_gone:
        return OUTBOX_DROPPED, "the account is closed"
    if item.channel == CHANNEL_EMAIL:
        try:
            mail.send_email(item.recipient, item.subject, str(item.body), message_id=message_id(item))
        except (smtplib.SMTPException, OSError) as exc:
            return OUTBOX_PENDING, _short(exc)
        return OUTBOX_SENT, None
    if item.subscription is None:
        return OUTBOX_DROPPED, "the device is no longer registered"
    from app.notifications import push
    try:
        push.send_push(item.subscription, str(item.body))
    except push.PushGone as exc:
        return OUTBOX_DROPPED, _short(exc)
    except push.PushFailed as exc:
        return OUTBOX_PENDING, _short(exc)
    return OUTBOX_SENT, None


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: the base delay doubled each time, at most six hours."""
    base = current_app.config["OUTBOX_RETRY_BASE_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def message_id(item: OutboxItem) -> str:
    """The same Message-ID for every attempt at one item."""
    stamp = int(item.created_at.timestamp())
    return f"<outbox-{item.id}-{stamp}@common-ground>"


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _deliverer_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident() % 100000}:{uuid.uuid4().hex[:8]}"


def delivery_states(purpose: str, recipients: list[str]) -> dict[str, str]:
    """How the latest email of this purpose to each address went: "sent", "sending" (queued,
    or being sent), "retrying" (the mail server refused or did not answer; it will try again),
    "failed" (given up). For the therapist's list of invitations."""
    if not recipients:
        return {}
    latest = (sa.select(OutboxItem.recipient, sa.func.max(OutboxItem.id).label("id"))
              .where(OutboxItem.purpose == purpose, OutboxItem.channel == CHANNEL_EMAIL,
                     OutboxItem.recipient.in_(recipients))
              .group_by(OutboxItem.recipient).subquery())
    rows = db.session.execute(sa.select(OutboxItem.recipient, OutboxItem.status, OutboxItem.attempts)
                              .join(latest, latest.c.id == OutboxItem.id)).all()
    states = {}
    for recipient, status, attempts in rows:
        if status == OUTBOX_SENT:
            states[recipient] = "sent"
        elif status in (OUTBOX_FAILED, OUTBOX_DROPPED):
            states[recipient] = "failed"
        elif status == OUTBOX_PENDING and attempts:
            states[recipient] = "retrying"
        else:
            states[recipient] = "sending"
    return states


def forget_finished(now: datetime | None = None, days: int = 30) -> int:
    """Remove items sent, dropped or given up over `days` ago (the daily purge-deleted run):
    their bodies held links with tokens, and a record of every email is not ours to keep."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    removed = db.session.execute(sa.delete(OutboxItem).where(
        OutboxItem.status.in_((OUTBOX_SENT, OUTBOX_DROPPED, OUTBOX_FAILED)),
        OutboxItem.created_at < cutoff).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return removed


def next_due_at() -> datetime | None:
    """When the earliest waiting item is due (a retry, quiet hours), or None."""
    return db.session.scalar(sa.select(sa.func.min(OutboxItem.next_attempt_at))
                             .where(OutboxItem.status == OUTBOX_PENDING))


def waiting_since(older_than: timedelta) -> int:
    """How many items have waited longer than `older_than` (is a worker running?)."""
    return db.session.scalar(sa.select(sa.func.count(OutboxItem.id)).where(
        OutboxItem.status.in_((OUTBOX_PENDING, OUTBOX_SENDING)),
        OutboxItem.next_attempt_at < utcnow() - older_than))


# --- after commit: wake whoever delivers --------------------------------------------------------

def _after_commit(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        from app.notifications import deliverer
        deliverer.wake()


def _after_rollback(session: Session, previous_transaction) -> None:
    # Only the whole transaction's rollback: a savepoint's keeps what was queued before it.
    if previous_transaction.parent is None:
        session.info.pop(_QUEUED, None)


def init_app(app) -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
