"""Reading messages: a thread opened (read state, audit, its notices read), the therapist's inbox,
the unread counts, the words above the box, and the messages in a client's record."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import Forbidden, NotFound

from app import audit, policy
from app.core.paging import Page, paginate
from app.extensions import db
from app.messages.threads import NEW_MESSAGE, MessageError, mark_read, notices_read, participants
from app.models import (
    Assignment,
    Message,
    MessageRead,
    MessageThread,
    Notification,
    Pair,
    PairMember,
    Reflection,
    User,
)
from app.notifications.services import unread_count

PER_PAGE = 50  # messages shown at once (the newest; earlier ones page back)
INBOX_PER_PAGE = 20
HOURS_MAX = 300
DEFAULT_HOURS = ("Messages are read during working hours, not straight away. They are not for "
                 "emergencies.")


def hours_of(therapist: User) -> str:
    """Her own words about when she reads messages, or the neutral default."""
    return (therapist.message_hours or "").strip() or DEFAULT_HOURS


def set_message_hours(therapist: User, words: str) -> None:
    """The therapist says in her own words when she reads messages (empty: the default)."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    words = " ".join((words or "").split())
    if len(words) > HOURS_MAX:
        raise MessageError(f"Please keep this to {HOURS_MAX} characters; it has {len(words)}.")
    therapist.message_hours = words
    audit.record(therapist, "message_hours_changed", None, therapist)
    db.session.commit()


# --- one thread ----------------------------------------------------------------------------------

@dataclass
class ThreadPage:
    """What a thread's page shows to one reader."""

    thread: MessageThread
    pair: Pair | None
    page: Page  # of messages, newest first (the template shows them oldest first)
    names: dict[int, str]  # author id -> how this reader calls her
    others: list[User]
    read_by: list[str] = field(default_factory=list)  # who has read the reader's last message
    my_last_id: int | None = None
    first_new_id: int | None = None  # the first message she had not seen before this visit
    about: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # reflection -> title, link

    @property
    def messages(self) -> list[Message]:
        return list(reversed(self.page.items))

    @property
    def with_whom(self) -> str:
        """The others in the thread, as the reader calls them."""
        return " and ".join(self.names.get(p.id, p.name) for p in self.others)


def names_for(reader: User, thread: MessageThread, people: list[User]) -> dict[int, str]:
    """Each author as the reader calls her: "You", a name, and in a pair its relation."""
    from app.pairs.turns import relation_words  # pairs' pages import progress, whose export imports this

    pair = policy.thread_pair(thread)
    names = {}
    for person in people:
        member = pair.member_for(person.id) if pair is not None else None
        if person.id == reader.id:
            names[person.id] = "You"
        elif member is not None and policy.is_client(reader):
            names[person.id] = f"{person.name} ({relation_words(member)})"
        elif member is not None:
            names[person.id] = f"{person.name} ({member.label})"
        else:
            names[person.id] = person.name
    return names


def open_thread(reader: User, thread: MessageThread, page: int = 1) -> ThreadPage:
    """The thread as this reader may read it. Every open by someone whose words are not all her
    own is audited, once per person whose words she reads; the newest page marks the thread read
    and its 'new message' notices with it."""
    if not policy.can_read_thread(reader, thread):
        raise NotFound()
    people = participants(thread)
    pair = policy.thread_pair(thread)
    clients = [p for p in people if p.id != thread.therapist_id]
    # The object read: the thread, or (nothing written yet) the pair or the client it would be.
    audit.record_reads(reader, [(client, thread if thread.id else (pair or client)) for client in clients],
                       "read_messages")
    result = ThreadPage(thread=thread, pair=pair,
                        page=Page(items=[], page=1, per_page=PER_PAGE, total=0),
                        names=names_for(reader, thread, people),
                        others=[p for p in people if p.id != reader.id])
    if thread.id is None:
        return result  # nothing written yet
    result.page = paginate(sa.select(Message).where(Message.thread_id == thread.id)
                           .order_by(Message.id.desc()), page, PER_PAGE)
    reads = dict(db.session.execute(sa.select(MessageRead.user_id, MessageRead.read_up_to)
                                    .where(MessageRead.thread_id == thread.id)).all())
    result.my_last_id = db.session.scalar(sa.select(sa.func.max(Message.id)).where(
        Message.thread_id == thread.id, Message.author_id == reader.id))
    if result.my_last_id is not None:
        result.read_by = [result.names.get(p.id, p.name) for p in result.others
                          if reads.get(p.id, 0) >= result.my_last_id]
    seen = reads.get(reader.id, 0)
    result.first_new_id = next((m.id for m in result.messages
                                if m.id > seen and m.author_id != reader.id), None)
    result.about = _about(reader, [m.reflection_id for m in result.page.items if m.reflection_id])
    newest = result.page.items[0].id if result.page.items and result.page.page == 1 else None
    if newest is not None:
        changed = mark_read(reader, thread, newest)
        if unread_count(reader):
            notices_read(reader, thread)
            changed = True
        if changed:
            db.session.commit()
            reader.unread_messages = None  # counted again for the header
    return result


def _about(reader: User, reflection_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """The exercise each reply to feedback is about, and where this reader opens it (none when
    she may no longer: a removed reflection keeps only its title)."""
    if not reflection_ids:
        return {}
    found = {}
    for reflection in db.session.scalars(sa.select(Reflection).where(Reflection.id.in_(reflection_ids))
                                         .options(joinedload(Reflection.assignment))):
        link = None
        if policy.can_view_reflection(reader, reflection):
            link = (f"/tasks/{reflection.assignment_id}" if reflection.author_id == reader.id
                    else f"/reflections/{reflection.id}")
        found[reflection.id] = (reflection.assignment.title, link)
    return found


# --- counts and the inbox ---------------------------------------------------------------------------

def _unread_by_others(user: User):
    """A message by someone else after the last one she has seen in its thread."""
    seen = (sa.select(MessageRead.read_up_to).where(MessageRead.thread_id == Message.thread_id,
                                                    MessageRead.user_id == user.id).scalar_subquery())
    return sa.and_(Message.author_id != user.id, Message.id > sa.func.coalesce(seen, 0))


def unread_total(user: User) -> int:
    """How many of her conversations have a message she has not read (the Messages link's
    count): her unread "new message" notices, one per thread until she opens it. Counted by the
    sign-in loader in its own round trip (cheap on every page), or here. A thread she may no
    longer read takes its notice with it (a pair's end: notifications.retract_share_notices)."""
    counted = getattr(user, "unread_messages", None)
    if counted is not None:
        return counted
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None),
        Notification.kind == NEW_MESSAGE))


def unread_by_thread(user: User, thread_ids: list[int]) -> dict[int, int]:
    """Her unread messages in each of these threads."""
    if not thread_ids:
        return {}
    rows = db.session.execute(sa.select(Message.thread_id, sa.func.count(Message.id))
                              .where(Message.thread_id.in_(thread_ids), _unread_by_others(user))
                              .group_by(Message.thread_id)).all()
    return dict(rows)


@dataclass
class InboxRow:
    thread: MessageThread
    unread: int
    name: str
    closed: str  # "" while open; else why nobody writes in it any more


def inbox(therapist: User, page: int = 1) -> tuple[Page, list[InboxRow]]:
    """Her threads, those with unread messages first, then the newest first."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    unread = (sa.select(sa.func.count(Message.id))
              .where(Message.thread_id == MessageThread.id, _unread_by_others(therapist))
              .correlate(MessageThread).scalar_subquery())
    query = (policy.visible_threads(therapist).add_columns(unread.label("unread"))
             .options(joinedload(MessageThread.client))
             .order_by(sa.case((unread > 0, 0), else_=1),
                       sa.func.coalesce(MessageThread.last_message_at, MessageThread.created_at).desc(),
                       MessageThread.id.desc()))
    found = paginate(query, page, INBOX_PER_PAGE, rows=True)
    pair_ids = [thread.pair_id for thread, _ in found.items if thread.pair_id is not None]
    pairs = {p.id: p for p in db.session.scalars(
        sa.select(Pair).where(Pair.id.in_(pair_ids))
        .options(selectinload(Pair.members).joinedload(PairMember.user)))} if pair_ids else {}
    rows = []
    for thread, count in found.items:
        if thread.client_id is not None:
            client = thread.client
            rows.append(InboxRow(thread, count, client.name, "" if client.is_active else "account closed"))
        else:
            pair = pairs[thread.pair_id]
            name = " & ".join(f"{m.user.name} ({m.label})" for m in pair.members)
            rows.append(InboxRow(thread, count, name, "" if pair.is_active else "pair ended"))
    return found, rows


# --- the record ------------------------------------------------------------------------------------

def messages_in_record(client: User) -> list[dict]:
    """Her conversations for her record (export): her own thread whole; in each pair thread she
    was in, her words and her therapist's, never the other member's."""
    pair_ids = sa.select(PairMember.pair_id).where(PairMember.user_id == client.id)
    threads = db.session.scalars(sa.select(MessageThread).where(sa.or_(
        MessageThread.client_id == client.id, MessageThread.pair_id.in_(pair_ids)))
        .order_by(MessageThread.id)).all()
    if not threads:
        return []
    messages = db.session.scalars(sa.select(Message).where(
        Message.thread_id.in_([t.id for t in threads])).order_by(Message.id)).all()
    about = {m.reflection_id for m in messages if m.reflection_id}
    titles = dict(db.session.execute(sa.select(Reflection.id, Assignment.title).join(Reflection.assignment)
                                     .where(Reflection.id.in_(about), Reflection.deleted_at.is_(None),
                                            Assignment.deleted_at.is_(None))).all()) if about else {}
    record = []
    for thread in threads:
        own = thread.client_id == client.id
        mine = [m for m in messages if m.thread_id == thread.id
                and (own or m.author_id in (client.id, thread.therapist_id))]
        entry = {"with": thread.therapist.name, "pair": not own, "started_at": thread.created_at.isoformat()}
        if not own:
            pair = policy.thread_pair(thread)
            entry["with"] = " and ".join([thread.therapist.name] + [
                m.user.name for m in (pair.members if pair is not None else []) if m.user_id != client.id])
            entry["note"] = ("Only the client’s own messages and the therapist’s are part of this "
                             "record, never the other member’s.")
        record.append({
            **entry,
            "messages": [{"written_at": m.created_at.isoformat(), "by": m.author.name, "text": m.body,
                          "about": titles.get(m.reflection_id)} for m in mine],
        })
    return record
