"""The demo pair: Maria and her daughter, linked, with a shared, a revealed (and answered) and a
half-done reveal-together exercise, and a session held together."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    TASK_OPEN,
    TASK_SUBMITTED,
    Exercise,
    Notification,
    Pair,
    PairExercise,
    PairMember,
    PairReply,
    User,
    utcnow,
)
from app.notifications.services import reveal_link
from app.ops.demo import demo_ahead, demo_reflection, demo_task


def seed_pair(mother: User, daughter: User, today: date) -> None:
    """A linked pair with shared, unshared, waiting and revealed reflections."""
    from app.pairs.services import member_prompts

    member_ids = [mother.id, daughter.id]
    if db.session.scalar(sa.select(PairMember.id).where(PairMember.user_id.in_(member_ids)).limit(1)):
        return
    now = utcnow()
    pair = Pair(therapist_id=mother.therapist_id, created_at=now - timedelta(days=20))
    db.session.add(pair)
    db.session.flush()
    labels = {mother.id: "mother", daughter.id: "daughter"}
    for user_id, label in labels.items():
        db.session.add(PairMember(pair_id=pair.id, user_id=user_id, label=label,
                                  accepted_at=now - timedelta(days=19)))
    library = {e.family: e for e in db.session.scalars(
        sa.select(Exercise).where(Exercise.built_in.is_(True)).order_by(Exercise.id))}

    def pair_exercise(family, due, reveal, plan):
        exercise = library[family]
        pe = PairExercise(pair_id=pair.id, therapist_id=mother.therapist_id, title=exercise.title,
                          reveal_together=reveal)
        db.session.add(pe)
        db.session.flush()
        written = {}
        for person, (sent_days_ago, shared, ratings) in plan.items():
            task = demo_task(person, exercise, due,
                              TASK_SUBMITTED if sent_days_ago is not None else TASK_OPEN,
                              pair_exercise_id=pe.id)
            task.prompts = member_prompts(exercise, labels[person.id])
            reflection = demo_reflection(task, person, sent_days_ago, *ratings)
            if shared:
                reflection.shared_at = now - timedelta(days=sent_days_ago or 0)
            written[person.id] = reflection
        return pe, written

    # Shared by the mother, kept private by the daughter.
    pair_exercise("stay_present", today - timedelta(days=9), False,
                  {mother: (8, True, (5, 6, "yes")), daughter: (7, False, (8, 3, "partly"))})
    # Reveal together, both sent and shared: revealed to each other, and answered after it.
    pe, written = pair_exercise("idealisation", today - timedelta(days=4), True,
                                {mother: (3, True, (4, 7, "yes")), daughter: (2, True, (6, 5, "partly"))})
    db.session.flush()
    db.session.add_all([
        PairReply(pair_exercise_id=pe.id, reflection_id=written[mother.id].id, prompt_index=0,
                  author_id=daughter.id, reaction="hear_you", created_at=now - timedelta(days=1, hours=3)),
        PairReply(pair_exercise_id=pe.id, reflection_id=written[daughter.id].id, prompt_index=0,
                  author_id=mother.id, body="I did not know you felt that. Thank you for writing it.",
                  created_at=now - timedelta(days=1)),
        PairReply(pair_exercise_id=pe.id, reflection_id=written[mother.id].id, prompt_index=1,
                  author_id=daughter.id, reaction="in_session", created_at=now - timedelta(hours=20)),
    ])
    # Reveal together, only the mother has sent: the daughter's turn, the mother waits.
    waiting, _ = pair_exercise("growing_up", today + timedelta(days=2), True,
                               {mother: (1, True, (6, 5, "partly")), daughter: (None, False, (7, 4, "no"))})
    db.session.flush()
    # What each was told: the reveal (read), and the daughter's turn (not yet read).
    db.session.add_all([Notification(user_id=person.id, kind="pair_revealed", link=reveal_link(pe.id),
                                     created_at=now - timedelta(days=2), read_at=now - timedelta(days=2))
                        for person in (mother, daughter)])
    turn_task = next(t for t in waiting.tasks if t.client_id == daughter.id)
    db.session.add(Notification(user_id=daughter.id, kind="pair_turn", link=f"/tasks/{turn_task.id}",
                                created_at=now - timedelta(days=1)))
    seed_pair_messages(pair, mother, daughter, now)


def seed_pair_messages(pair: Pair, mother: User, daughter: User, now) -> None:
    """The pair's thread with their therapist: a word from her to both, and each one's answer
    (read by everyone but the therapist, whose Messages link shows the newest as unread)."""
    from app.models import Message, MessageRead, MessageThread

    thread = MessageThread(therapist_id=pair.therapist_id, pair_id=pair.id,
                           created_at=now - timedelta(days=3), last_message_at=now - timedelta(hours=5))
    db.session.add(thread)
    db.session.flush()
    lines = (
        (pair.therapist_id, timedelta(days=3), "Thank you both for the reveal this week. Before we "
                                               "meet, notice one moment when you chose not to have "
                                               "the old argument."),
        (mother.id, timedelta(days=1), "We had one on Tuesday, about the phone calls. I let it go."),
        (daughter.id, timedelta(hours=5), "I noticed it too. It felt strange, in a good way."),
    )
    said = [Message(thread_id=thread.id, author_id=author, created_at=now - ago, body=body)
            for author, ago, body in lines]
    db.session.add_all(said)
    db.session.flush()
    db.session.add_all([
        MessageRead(thread_id=thread.id, user_id=pair.therapist_id, read_up_to=said[1].id,
                    read_at=said[1].created_at),
        MessageRead(thread_id=thread.id, user_id=mother.id, read_up_to=said[2].id, read_at=said[2].created_at),
        MessageRead(thread_id=thread.id, user_id=daughter.id, read_up_to=said[2].id, read_at=said[2].created_at),
        # The notice behind the therapist's Messages count (one per conversation, as written live).
        Notification(user_id=pair.therapist_id, kind="new_message", link=f"/messages/pairs/{pair.id}",
                     created_at=said[2].created_at),
    ])


def seed_pair_session(mother: User, daughter: User) -> None:
    from app.models import SessionNote, TherapySession

    pair = db.session.scalar(sa.select(Pair).join(PairMember).where(PairMember.user_id == mother.id))
    if pair is None or db.session.scalar(
            sa.select(TherapySession.id).where(TherapySession.pair_id == pair.id).limit(1)):
        return
    session = TherapySession(therapist_id=mother.therapist_id, pair_id=pair.id,
                             starts_at=utcnow().replace(minute=0, second=0, microsecond=0)
                             - timedelta(days=10), duration_minutes=75)
    db.session.add(session)
    db.session.flush()
    db.session.add_all([
        SessionNote(session_id=session.id, kind="shared", author_id=mother.therapist_id,
                    visibility="client", version=1,
                    body="Together we named Sunday calls as the topic you keep fighting over, "
                         "and agreed to try putting it down for two weeks."),
        SessionNote(session_id=session.id, kind="member", author_id=mother.id, visibility="pair",
                    version=1, body="I was glad we could laugh at the end."),
        SessionNote(session_id=session.id, kind="member", author_id=daughter.id,
                    visibility="therapist", version=1,
                    body="I held back how angry I still am about the move."),
        # The next pair session, scheduled ahead as a video call.
        TherapySession(therapist_id=mother.therapist_id, pair_id=pair.id, duration_minutes=75,
                       starts_at=demo_ahead(mother.therapist, 6, 17),
                       location=f"https://meet.example.com/{mother.name.split()[-1].lower()}-family"),
    ])
