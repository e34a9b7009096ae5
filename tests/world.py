"""A small practice with one of everything, shared by the access-matrix tests."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.core.clock import today_for
from app.extensions import db
from app.models import Exercise
from tests.conftest import make_client, make_therapist


def build_world() -> dict:
    """Therapist T with client C (an open task, a submitted reflection, a draft) and an
    invitation and exercise of her own; therapist T2 with client C2; C3 another client of T;
    P, C's linked pair partner, with whom C shares one reflection."""
    from app.accounts.invitations import invite_client
    from app.homework.exercises import create_exercise
    from app.homework.reflections import save_draft, submit_reflection
    from app.homework.tasks import assign_exercise

    t = make_therapist("Ruth")
    c = make_client(t, "Maria")
    c3 = make_client(t, "Elena")
    t2 = make_therapist("Sam")
    c2 = make_client(t2, "Priya")
    built_in = db.session.scalar(sa.select(Exercise).where(Exercise.built_in.is_(True)).limit(1))
    own = create_exercise(t, title="Walk and talk", family="stay_present",
                          instructions="Go for a walk together.", prompts=["What happened?", "How was it?"])
    today = today_for(t)
    open_task, submitted_task, draft_task = (
        assign_exercise(t, c, built_in, due_date=today + timedelta(days=d), today=today)[0]
        for d in (1, 2, 3)
    )
    ratings = {"resentment": 4, "closeness": 6, "stayed_present": "partly"}
    reflection, _ = submit_reflection(c, submitted_task, ["It went well."], ratings)
    draft = save_draft(c, draft_task, ["Half a thought"], {})
    with current_app.test_request_context():
        invitation = invite_client(t, "new.client@example.org")

    # C and her partner P (another client of T), linked with both members' consent; C shares
    # one reflection of a pair exercise (not revealed-together), and keeps `reflection` private.
    from app.pairs.services import assign_to_pair, link_pair, respond
    from app.pairs.services import share as share_reflection
    p = make_client(t, "Elena")
    pair = link_pair(t, c, "mother", p, "daughter")
    respond(c, pair, accept=True)
    respond(p, pair, accept=True)
    [pair_exercise] = assign_to_pair(t, pair, built_in, due_date=today + timedelta(days=1), today=today)
    shared_task = next(task for task in pair_exercise.tasks if task.client_id == c.id)
    shared_reflection, _ = submit_reflection(c, shared_task, ["Shared words."], ratings)
    share_reflection(c, shared_reflection)
    # P's reply to it, as if after a reveal (in this world P has not sent: nobody but T sees it)
    from app.models import PairReply

    reply = PairReply(pair_exercise_id=pair_exercise.id, reflection_id=shared_reflection.id,
                      prompt_index=0, author_id=p.id, body="A reply.")
    db.session.add(reply)
    # T's own clinical note template.
    from app.models import NoteTemplate
    note_template = NoteTemplate(therapist_id=t.id, name="Family session", sections=["Concern", "Plan"])
    db.session.add(note_template)
    db.session.commit()

    # A session with C (shared notes and a private clinical note), a pair session with a note
    # C keeps for the therapist only, and an agenda item of C's.
    from datetime import time

    from app.therapy_sessions import services as sessions
    session = sessions.record_session(t, c, today, time(10, 0), 50)
    sessions.save_shared_note(t, session, "Shared summary.", 0)
    sessions.save_clinical_note(t, session, "CLINICAL-SENTINEL", 0)
    pair_session = sessions.record_session(t, pair, today, time(12, 0), None)
    member_note = sessions.add_member_note(c, pair_session, "For my therapist only.", "therapist")
    agenda_item = sessions.add_agenda_item(c, "Christmas plans")
    # A session with C scheduled a week ahead (so it can still be moved or cancelled).
    from app.therapy_sessions.schedule import schedule_session
    upcoming_session = schedule_session(t, c, today + timedelta(days=7), time(15, 0), 50, "Room 2")
    from app.models import Notification
    notification = db.session.scalar(sa.select(Notification).where(Notification.user_id == c.id).limit(1))
    return dict(therapist=t, client=c, same_therapist_client=c3, other_therapist=t2,
                notification=notification,
                other_client=c2, partner=p, session=session, pair_session=pair_session,
                member_note=member_note, agenda_item=agenda_item, upcoming_session=upcoming_session,
                built_in=built_in, own_exercise=own,
                open_task=open_task,
                submitted_task=submitted_task, draft_task=draft_task, reflection=reflection,
                draft=draft, invitation=invitation, pair=pair, shared_reflection=shared_reflection,
                pair_exercise=pair_exercise, reply=reply, note_template=note_template)
