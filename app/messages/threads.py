"""Threads and writing. A thread is found, or made when its first message is written; a message
is stored in one transaction with its audit row and the others' notifications, which never hold
a word of it."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import audit, policy
from app.core import once
from app.extensions import db
from app.models import (
    MESSAGE_MAX_LENGTH,
    Message,
    MessageRead,
    MessageThread,
    Notification,
    Pair,
    PairMember,
    Reflection,
    User,
    utcnow,
)
from app.notifications.services import notify
from app.policy.loading import MAX_ID

NEW_MESSAGE = "new_message"


class MessageError(Exception):
    """A refusal with a sentence the writer can act on. Nothing was stored; her text is kept.
    `status`: 400 for what she typed, 409 for a conversation that is closed to writing."""

    def __init__(self, message: str, status: int = 400, drop_reflection: bool = False):
        super().__init__(message)
        self.status = status
        self.drop_reflection = drop_reflection


# --- finding a thread --------------------------------------------------------------------------

def thread_with_client(client: User) -> MessageThread:
    """Her thread with her therapist: the stored one, or a new one not stored yet."""
    thread = db.session.scalar(sa.select(MessageThread).where(MessageThread.client_id == client.id))
    if thread is None:
        thread = MessageThread(therapist_id=client.therapist_id, client_id=client.id)
        thread.client, thread.therapist = client, client.therapist
    return thread


def thread_with_pair(pair: Pair) -> MessageThread:
    """The pair's thread with its therapist: the stored one, or a new one not stored yet."""
    thread = db.session.scalar(sa.select(MessageThread).where(MessageThread.pair_id == pair.id))
    if thread is None:
        thread = MessageThread(therapist_id=pair.therapist_id, pair_id=pair.id)
        thread.therapist = pair.therapist
    return thread


def _stored(thread: MessageThread) -> MessageThread:
    """The thread in the database (made now, with the first message of the caller's transaction)."""
    if thread.id is not None:
        return thread
    try:
        with db.session.begin_nested():
            db.session.add(thread)
    except IntegrityError:
        # The first message of this thread, written at the same moment in another tab: its
        # thread stands, and this message goes into it.
        column, value = ((MessageThread.client_id, thread.client_id) if thread.client_id is not None
                         else (MessageThread.pair_id, thread.pair_id))
        return db.session.scalar(sa.select(MessageThread).where(column == value))
    return thread


def participants(thread: MessageThread) -> list[User]:
    """Everyone the thread is between: the therapist, and the client or the pair's members."""
    if thread.client_id is not None:
        return [thread.therapist, policy.thread_client(thread)]
    pair = policy.thread_pair(thread)
    return [thread.therapist] + ([m.user for m in pair.members] if pair is not None else [])


def thread_link(person: User, thread: MessageThread) -> str:
    """Where this person opens the thread (a notification's link)."""
    if thread.pair_id is not None:
        return f"/messages/pairs/{thread.pair_id}"
    return "/messages" if person.id == thread.client_id else f"/messages/clients/{thread.client_id}"


def closed_reason(person: User, thread: MessageThread) -> str:
    """Why nobody can write in this thread now, in words for the person who tried."""
    if thread.client_id is not None:
        client = policy.thread_client(thread)
        return (f"{client.name}’s account is closed, so messages can no longer be sent to "
                f"{client.pronoun('object')}.")
    pair = policy.thread_pair(thread)
    if pair is not None and pair.ended_at is None and pair.linked_since is None:
        return "Messages to a pair can be written once both have accepted the link."
    closed = [m.user for m in (pair.members if pair is not None else []) if not m.user.is_active]
    if pair is not None and pair.ended_at is None and closed and policy.is_therapist(person):
        return (f"{closed[0].name}’s account is closed, so this pair’s conversation is closed to "
                "writing.")
    if policy.is_therapist(person):
        return ("This pair has ended: you can still read the conversation, but no more messages "
                "can be sent in it.")
    if pair is not None and pair.ended_at is None:
        return "This conversation is closed for now."
    return "The pair link has ended, so this conversation is closed for both of you."


# --- writing -----------------------------------------------------------------------------------

def _refuse(message: str, **kwargs) -> MessageError:
    """Nothing of this attempt stays in the transaction (a page shown again may commit it)."""
    db.session.rollback()
    return MessageError(message, **kwargs)


def attachable(author: User, thread: MessageThread, reflection_id) -> Reflection | None:
    """The reflection (by id, as a form sent it) whose feedback a message in this thread may
    answer: one of her own, with feedback, in her own thread. None for anything else."""
    try:
        reflection_id = int(reflection_id)
    except (TypeError, ValueError):
        return None
    reflection = db.session.get(Reflection, reflection_id) if 0 < reflection_id <= MAX_ID else None
    if not policy.can_reply_to_feedback(author, reflection) or thread.client_id != author.id:
        return None
    return reflection


def _reply_target(author: User, thread: MessageThread, reflection_id) -> Reflection | None:
    """The reflection a reply answers the feedback on, or None when the message is about none."""
    if reflection_id in (None, ""):
        return None
    reflection = attachable(author, thread, reflection_id)
    if reflection is None:
        raise _refuse("A reply can be about the feedback on one of your own reflections only. "
                      "Your text is still here: send it as a message of its own.",
                      drop_reflection=True)
    return reflection


def write_message(author: User, thread: MessageThread, body: str, reflection_id=None,
                  once_key: str | None = None) -> Message | None:
    """Store one message (and the thread, if this is its first), its audit row and the others'
    content-free notifications, in one transaction. The same form sent again (its one-time key)
    stores nothing and returns None."""
    if not policy.can_write_in_thread(author, thread):
        raise _refuse(f"{closed_reason(author, thread)} Nothing was sent; your text is still here.",
                      status=409)
    reflection = _reply_target(author, thread, reflection_id)
    body = (body or "").strip()
    if not body:
        raise _refuse("Write your message before sending it.")
    if len(body) > MESSAGE_MAX_LENGTH:
        raise _refuse(f"A message can be up to {MESSAGE_MAX_LENGTH:,} characters; this one has "
                      f"{len(body):,}. Shorten it, or send it in two parts: your text is still here.")
    if not once.first_time(author, once_key, "message"):
        return None
    thread = _stored(thread)
    now = utcnow()
    message = Message(thread_id=thread.id, author_id=author.id, body=body, created_at=now,
                      reflection_id=reflection.id if reflection is not None else None)
    db.session.add(message)
    db.session.flush()
    thread.last_message_at = now
    # Her own message is never unread for her; what others wrote while she typed stays new for
    # her until she opens the thread (the page she is sent back to).
    people = participants(thread)
    for subject in _whose_record(author, thread, people):
        audit.record(author, "message_sent", subject, message)
    for person in people:
        if person.id != author.id and person.is_active:
            _tell(person, thread)
    once.remember(author, once_key, message_id=message.id, thread_id=thread.id)
    db.session.commit()
    return message


def _whose_record(author: User, thread: MessageThread, people: list[User]) -> list[User]:
    """The clients in whose record this message is a change: the client of her own thread; in a
    pair thread the member who wrote it, or both members when their therapist wrote."""
    clients = [p for p in people if p.id != thread.therapist_id]
    if author.id != thread.therapist_id:
        return [author]
    return clients


def _tell(person: User, thread: MessageThread) -> None:
    """One unread 'new message' notice per thread at a time: more messages before she opens the
    thread add nothing (nor another email or push)."""
    link = thread_link(person, thread)
    waiting = db.session.scalar(sa.select(Notification.id).where(
        Notification.user_id == person.id, Notification.kind == NEW_MESSAGE,
        Notification.link == link, Notification.read_at.is_(None)).limit(1))
    if waiting is None:
        notify(person, NEW_MESSAGE, link)


def mark_read(person: User, thread: MessageThread, up_to: int) -> bool:
    """She has seen the thread up to this message (the caller commits). True if that is news."""
    row = db.session.get(MessageRead, (thread.id, person.id))
    if row is not None:
        if row.read_up_to >= up_to:
            return False
        row.read_up_to, row.read_at = up_to, utcnow()
        return True
    try:
        with db.session.begin_nested():
            db.session.add(MessageRead(thread_id=thread.id, user_id=person.id, read_up_to=up_to,
                                       read_at=utcnow()))
    except IntegrityError:  # the same thread opened in two tabs at once: the other made the row
        row = db.session.get(MessageRead, (thread.id, person.id))
        if row is None or row.read_up_to >= up_to:
            return False
        row.read_up_to, row.read_at = up_to, utcnow()
    return True


def retract_pair_thread_notices(client: User) -> None:
    """Her account is closed, so her pair's conversation is closed to its members: their "new
    message" notices of its thread go (its therapist still reads it; the caller commits)."""
    pair_ids = db.session.scalars(sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)).all()
    for pair_id in pair_ids:
        thread = MessageThread(pair_id=pair_id)
        db.session.execute(sa.delete(Notification).where(
            Notification.kind == NEW_MESSAGE, Notification.link == thread_link(client, thread),
            Notification.user_id.in_(sa.select(PairMember.user_id).where(PairMember.pair_id == pair_id)))
            .execution_options(synchronize_session=False))


def notices_read(person: User, thread: MessageThread) -> None:
    """Her 'new message' notifications of this thread are read (the caller commits)."""
    db.session.execute(sa.update(Notification).where(
        Notification.user_id == person.id, Notification.kind == NEW_MESSAGE,
        Notification.link == thread_link(person, thread), Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False))
    person.unread_notifications = None  # counted again when next shown
