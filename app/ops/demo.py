"""Demo data: two therapists, each with a mother–daughter pair and one individual client,
and for every client open, overdue and done tasks with reflections and feedback."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from app.core import passwords
from app.core.clock import today_for
from app.extensions import db
from app.homework.families import sharing_for
from app.models import (
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    ROLE_CLIENT,
    ROLE_THERAPIST,
    TASK_OPEN,
    TASK_SUBMITTED,
    Assignment,
    Exercise,
    Feedback,
    Notification,
    Reflection,
    User,
    utcnow,
)

DEMO_PASSWORD = "common-ground-demo"
# Known two-factor secrets for the demo therapists, so the demo stays easy to try
# (`flask totp-code EMAIL` prints the current code in development).
DEMO_TOTP_SECRETS = {
    "ruth.alder@example.com": "RUTHALDERDEMOCOMMONGROUNDTOTP234",
    "sam.okafor@example.com": "SAMOKAFORDEMOCOMMONGROUNDTOTP567",
}


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: str
    therapist: str | None = None
    partner: str | None = None
    label: str = ""
    pronouns: str = ""  # as each chose on her account page; Priya chose none (pages use her name)


DEMO_PEOPLE = [
    DemoPerson("ruth.alder@example.com", "Ruth Alder", ROLE_THERAPIST, pronouns="she"),
    DemoPerson("maria.lopez@example.com", "Maria Lopez", ROLE_CLIENT,
               "ruth.alder@example.com", "elena.lopez@example.com", "mother", "she"),
    DemoPerson("elena.lopez@example.com", "Elena Lopez", ROLE_CLIENT,
               "ruth.alder@example.com", "maria.lopez@example.com", "daughter", "she"),
    DemoPerson("jonah.price@example.com", "Jonah Price", ROLE_CLIENT, "ruth.alder@example.com",
               pronouns="he"),
    DemoPerson("sam.okafor@example.com", "Sam Okafor", ROLE_THERAPIST, pronouns="he"),
    DemoPerson("helen.brooks@example.com", "Helen Brooks", ROLE_CLIENT,
               "sam.okafor@example.com", "clara.brooks@example.com", "mother", "she"),
    DemoPerson("clara.brooks@example.com", "Clara Brooks", ROLE_CLIENT,
               "sam.okafor@example.com", "helen.brooks@example.com", "daughter", "they"),
    DemoPerson("priya.nair@example.com", "Priya Nair", ROLE_CLIENT, "sam.okafor@example.com"),
]


def demo_present() -> bool:
    emails = [p.email for p in DEMO_PEOPLE]
    return db.session.scalar(sa.select(sa.func.count()).where(User.email.in_(emails))) == len(emails)


def database_empty() -> bool:
    return db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def seed_demo() -> int:
    """Create whatever demo accounts are missing; returns how many were created."""
    existing = {
        u.email: u for u in db.session.scalars(
            sa.select(User).where(User.email.in_([p.email for p in DEMO_PEOPLE]))
        )
    }
    password_hash = passwords.hash_password(DEMO_PASSWORD)
    created = 0
    for person in DEMO_PEOPLE:  # therapists come before their clients in the list
        if person.email in existing:
            continue
        therapist = existing.get(person.therapist) if person.therapist else None
        secret = DEMO_TOTP_SECRETS.get(person.email)
        user = User(
            email=person.email, name=person.name, role=person.role,
            therapist_id=therapist.id if therapist else None,
            password_hash=password_hash, email_notifications=person.role == ROLE_THERAPIST,
            totp_secret=secret, totp_enabled_at=utcnow() if secret else None,
            pronouns=person.pronouns,
        )
        db.session.add(user)
        db.session.flush()
        existing[person.email] = user
        created += 1
    for person in DEMO_PEOPLE:
        user = existing[person.email]
        if person.role == ROLE_CLIENT:
            seed_homework(user, today_for(user))
            seed_sessions(user)
        if person.label == "mother":
            from app.ops.demo_pairs import seed_pair, seed_pair_session  # they use this module's builders

            seed_pair(user, existing[person.partner], today_for(user))
            seed_pair_session(user, existing[person.partner])
    db.session.commit()
    return created


# A few lines a demo client might write, per family (first answer; the others stay short).
DEMO_ANSWERS = {
    "change_dynamic": "On Sunday I asked about her week and did not interrupt once, even when she "
                      "brought up my job again.\n\nShe talked for twenty minutes. I think she was surprised.",
    "stay_present": "We were folding laundry and she laughed at an old story. For a minute it felt easy.",
    "choose_battles": "The argument about Christmas started again. I said I did not want to fight "
                      "about it today, and we talked about the dog instead.",
    "idealisation": "I expect her to always call first. Maybe that is not realistic; she is shy on the phone.",
    "forgiveness_letter": "Dear Mum, I have been angry about the move for eleven years.",
}


def demo_task(client: User, exercise, due: date, status: str = TASK_OPEN, **extra) -> Assignment:
    task = Assignment(
        client_id=client.id, therapist_id=client.therapist_id, exercise_id=exercise.id,
        exercise_version=exercise.version, family=exercise.family, title=exercise.title,
        instructions=exercise.instructions, prompts=list(exercise.prompts),
        sharing=sharing_for(exercise.family), due_date=due, status=status, **extra,
    )
    db.session.add(task)
    db.session.flush()
    return task


def demo_reflection(task: Assignment, client: User, submitted_days_ago: int | None,
                     resentment: int, closeness: int, present: str, urgent: bool = False) -> Reflection:
    answers = [DEMO_ANSWERS.get(task.family, "I tried it this week and wrote down what happened.")]
    answers += ["A little, yes." for _ in task.prompts[1:]]
    now = utcnow()
    reflection = Reflection(
        assignment_id=task.id, author_id=client.id, answers=answers, resentment=resentment,
        closeness=closeness, stayed_present=present, urgent=urgent,
        status=REFLECTION_SUBMITTED if submitted_days_ago is not None else REFLECTION_DRAFT,
        draft_saved_at=now - timedelta(days=submitted_days_ago or 0, hours=1),
        submitted_at=now - timedelta(days=submitted_days_ago) if submitted_days_ago is not None else None,
    )
    db.session.add(reflection)
    db.session.flush()
    return reflection


def seed_homework(client: User, today: date) -> None:
    """Open, overdue and done tasks; reflections with and without feedback; one urgent."""
    if db.session.scalar(sa.select(sa.func.count(Assignment.id)).where(
            Assignment.client_id == client.id, Assignment.pair_exercise_id.is_(None))):
        return
    library = {e.family: e for e in db.session.scalars(
        sa.select(Exercise).where(Exercise.built_in.is_(True)).order_by(Exercise.id))}
    if not library:
        return
    now = utcnow()
    done = demo_task(client, library["change_dynamic"], today - timedelta(days=14), TASK_SUBMITTED,
                      note="Try it once or twice; small is fine.")
    reflection = demo_reflection(done, client, 12, resentment=7, closeness=3, present="partly")
    db.session.add(Feedback(reflection_id=reflection.id, therapist_id=client.therapist_id,
                            body="Thank you for trying this. Noticing her surprise is a real start. "
                                 "Let's talk about what made it hard to keep quiet.",
                            created_at=now - timedelta(days=10)))
    reflection.last_feedback_at = now - timedelta(days=10)
    reflection.reviewed_at = now - timedelta(days=10)
    # announced as real feedback is, so that home and Notifications tell the same story
    db.session.add(Notification(user_id=client.id, kind="new_feedback", link=f"/tasks/{done.id}",
                                created_at=now - timedelta(days=10)))
    seed_messages(client, reflection, now)

    done2 = demo_task(client, library["stay_present"], today - timedelta(days=5), TASK_SUBMITTED)
    demo_reflection(done2, client, 4, resentment=5, closeness=6, present="yes")

    urgent = demo_task(client, library["choose_battles"], today - timedelta(days=2), TASK_SUBMITTED)
    demo_reflection(urgent, client, 1, resentment=8, closeness=2, present="no", urgent=True)

    overdue = demo_task(client, library["idealisation"], today - timedelta(days=3))
    demo_reflection(overdue, client, None, resentment=6, closeness=4, present="partly")
    demo_task(client, library["agree_to_disagree"], today)
    demo_task(client, library["forgiveness_letter"], today + timedelta(days=5),
               note="Take your time; write it over several evenings if that helps.")


def seed_messages(client: User, reflection: Reflection, now) -> None:
    """Her reply to the feedback above, in her thread with her therapist, and the therapist's
    answer, not read yet (the Messages link shows 1 and a notice says so, without content)."""
    from app.models import Message, MessageRead, MessageThread

    thread = MessageThread(therapist_id=client.therapist_id, client_id=client.id,
                           created_at=now - timedelta(days=9), last_message_at=now - timedelta(days=8))
    db.session.add(thread)
    db.session.flush()
    reply = Message(thread_id=thread.id, author_id=client.id, reflection_id=reflection.id,
                    created_at=now - timedelta(days=9),
                    body="Thank you. What made it hard was that the old argument started in my "
                         "head before she had said anything. I counted to five, and it passed.")
    answer = Message(thread_id=thread.id, author_id=client.therapist_id, created_at=now - timedelta(days=8),
                     body="Counting to five is a good tool to keep. Let's look together at what "
                          "your head says before she speaks; bring an example if one comes up.")
    db.session.add_all([reply, answer])
    db.session.flush()
    db.session.add_all([
        MessageRead(thread_id=thread.id, user_id=client.id, read_up_to=reply.id, read_at=reply.created_at),
        MessageRead(thread_id=thread.id, user_id=client.therapist_id, read_up_to=answer.id,
                    read_at=answer.created_at),
        Notification(user_id=client.id, kind="new_message", link="/messages", created_at=answer.created_at),
    ])


def seed_sessions(client: User) -> None:
    """Two past sessions with shared notes (one with a private clinical note) and an agenda."""
    from app.models import AgendaItem, ClinicalNote, SessionNote, TherapySession

    if db.session.scalar(sa.select(TherapySession.id).where(TherapySession.client_id == client.id).limit(1)):
        return
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    for days, shared, clinical in (
        (14, "We looked at the old argument about the move and how often it comes back. "
             "Homework: notice one moment this week when it does not.", None),
        (7, "You noticed a good moment on Sunday and stayed with it. We agreed to try the "
            "'argument I did not have' exercise next.",
         "Affect brighter. Resentment toward mother still high around holidays; revisit."),
    ):
        session = TherapySession(therapist_id=client.therapist_id, client_id=client.id,
                                 starts_at=now - timedelta(days=days), duration_minutes=50)
        db.session.add(session)
        db.session.flush()
        db.session.add(SessionNote(session_id=session.id, kind="shared", author_id=client.therapist_id,
                                   visibility="client", body=shared, version=1))
        if clinical:
            db.session.add(ClinicalNote(session_id=session.id, therapist_id=client.therapist_id,
                                        body=clinical, version=1))
    for text in ("How to answer when she brings up the wedding again.",
                 "I felt guilty after Sunday and don't know why."):
        db.session.add(AgendaItem(client_id=client.id, therapist_id=client.therapist_id, body=text))
    # Her next session, scheduled ahead (each client at her own hour, so none overlap).
    db.session.add(TherapySession(therapist_id=client.therapist_id, client_id=client.id,
                                  starts_at=demo_ahead(client.therapist, 3, 9 + client.id % 8),
                                  duration_minutes=50, location="Room 2, 14 Harbour Street"))


def demo_ahead(therapist: User, days: int, hour: int):
    """A time `days` ahead at `hour` o'clock on the therapist's clock, as UTC."""
    from datetime import datetime, time, timezone

    from app.core.clock import zone_for

    day = today_for(therapist) + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=zone_for(therapist)).astimezone(timezone.utc)


def demo_logins() -> list[dict]:
    """The demo accounts, as printed by `flask seed-demo` (and its --json)."""
    return [
        {
            "email": p.email,
            "password": DEMO_PASSWORD,
            "role": p.role,
            "name": p.name,
            "therapist": p.therapist,
            "partner": p.partner,
            "relation": p.label or None,
            "totp_secret": DEMO_TOTP_SECRETS.get(p.email),
        }
        for p in DEMO_PEOPLE
    ]
