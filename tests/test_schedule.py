"""Sessions scheduled ahead, through HTTP: scheduling on the therapist's clock and reading on
each person's own, refusals that change nothing (a time passed, an overlap, a length or a place
out of bounds, a link that is not a web address, a double submit), moving and cancelling, the
lists that show what is coming up, and a new task's due date before the next session."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.models import AuditEvent, TherapySession
from app.therapy_sessions import schedule
from tests.builders_pairs import text_of
from tests.builders_sessions import linked_pair
from tests.conftest import login, make_client, make_therapist


@pytest.fixture
def practice(app):
    """Ruth (New York) with Maria (London) and Elena, linked as mother and daughter; Sam with Priya."""
    ruth = make_therapist("Ruth Alder", timezone="America/New_York")
    maria = make_client(ruth, "Maria Lopez", timezone="Europe/London")
    elena = make_client(ruth, "Elena Lopez", timezone="Europe/London")
    sam = make_therapist("Sam Okafor")
    return dict(ruth=ruth, maria=maria, elena=elena, pair=linked_pair(ruth, maria, elena), sam=sam,
                priya=make_client(sam, "Priya Nair"))


def form(day, at="14:30", minutes="50", location="", **extra) -> dict:
    return {"day": day.isoformat(), "time": at, "duration_minutes": minutes, "location": location, **extra}


def sessions_ahead() -> list[TherapySession]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(TherapySession).order_by(TherapySession.id)))


def test_scheduled_on_her_clock_and_read_on_each_readers_own(practice, app):
    ruth, maria, elena = practice["ruth"], practice["maria"], practice["elena"]
    therapist, client = app.test_client(), app.test_client()
    login(therapist, ruth)
    login(client, maria)
    day = today_for(ruth) + timedelta(days=10)

    page = therapist.get(f"/clients/{maria.id}/sessions/schedule")
    assert page.status_code == 200 and "America/New_York" in text_of(page)
    answer = therapist.post(f"/clients/{maria.id}/sessions/schedule",
                            data=form(day, "14:30", "60", "Room 2, 14 Harbour Street"))
    assert answer.status_code == 302 and answer.location.endswith(f"/clients/{maria.id}")

    [session] = sessions_ahead()
    starts = datetime.combine(day, time(14, 30), tzinfo=ZoneInfo("America/New_York"))
    assert session.starts_at == starts.astimezone(timezone.utc)
    assert (session.client_id, session.duration_minutes, session.location) == \
        (maria.id, 60, "Room 2, 14 Harbour Street")
    scheduled = sa.select(AuditEvent.subject_id).where(AuditEvent.action == "session_scheduled")
    assert db.session.scalar(scheduled) == maria.id

    london = starts.astimezone(ZoneInfo("Europe/London"))
    html = client.get("/home").get_data(as_text=True)
    assert re.search(rf"{london:%A %-d %B}( \d{{4}})?, {london:%H:%M}</time>–{london + timedelta(hours=1):%H:%M}", html)
    home = text_of(client.get("/home"))
    assert "Your next session" in home and "Room 2, 14 Harbour Street" in home and "With Ruth Alder" in home
    assert "14:30</time>–15:30" in therapist.get(f"/clients/{maria.id}").get_data(as_text=True)
    # The next one starts from "same time next week": her time, length and place, a week on.
    again = therapist.get(f"/clients/{maria.id}/sessions/schedule").get_data(as_text=True)
    assert f'value="{day + timedelta(days=7)}"' in again and 'value="14:30"' in again
    assert 'value="60"' in again and 'value="Room 2, 14 Harbour Street"' in again
    # On her sessions page it is listed apart, ahead; never among the sessions held.
    sessions_page = text_of(client.get("/sessions"))
    assert "Coming up" in sessions_page and "No sessions recorded yet" in sessions_page
    # Elena is not in this session: her home shows none.
    other = app.test_client()
    login(other, elena)
    assert "Your next session" not in text_of(other.get("/home"))


def test_every_refusal_says_why_and_changes_nothing(practice, client):
    ruth, maria = practice["ruth"], practice["maria"]
    login(client, ruth)
    url = f"/clients/{maria.id}/sessions/schedule"
    day = today_for(ruth) + timedelta(days=5)
    assert client.post(url, data=form(day, "10:00", "50")).status_code == 302
    yesterday = today_for(ruth) - timedelta(days=1)
    long_place = "Room " + "x" * 600
    cases = [
        (form(yesterday, "10:00"), 400, "already passed"),
        (form(day, "10:30"), 409, "overlaps your session with Maria Lopez"),
        (form(day, "09:20", "45"), 409, "overlaps"),  # ends 10:05, inside the first one
        (form(day, "12:00", "5"), 400, "between 10 and 480 minutes"),
        (form(day, "12:00", "481"), 400, "between 10 and 480 minutes"),
        (form(day, "12:00", "fifty"), 400, "Not a valid integer value"),
        (form(day, "12:00", ""), 400, "how long the session lasts"),
        (form(day, "12:00", location=long_place), 400, "under 500 characters"),
        (form(day, "12:00", location="javascript:alert(1)"), 400, "must be a web address"),
        (form(day, "12:00", location="ftp://files.example.org/room"), 400, "must be a web address"),
        (form(day, "12:00", location="https://zoom.us/j/1 password 42"), 400, "video link alone"),
        (form(day, "12:00", location="www.zoom.us/j/1"), 400, "starts with https://"),
        (form(day + timedelta(days=800), "12:00"), 400, "within the next two years"),
        (form(day, "25:00"), 400, "Choose the time it starts"),
        (form(yesterday, "10:00", "4", "data:text/html,hi"), 400, "already passed"),  # and the others:
        (form(yesterday, "10:00", "4", "data:text/html,hi"), 400, "between 10 and 480 minutes"),
        (form(yesterday, "10:00", "4", "data:text/html,hi"), 400, "must be a web address"),
    ]
    for data, status, says in cases:
        answer = client.post(url, data=data)
        page = text_of(answer)
        assert answer.status_code == status and says in page, (data, answer.status_code, page[:300])
        if data["location"]:
            assert data["location"] in answer.get_data(as_text=True)  # what she typed is kept
    assert len(sessions_ahead()) == 1

    # The same form sent twice (a double click, a retry) schedules one session.
    key = "k" * 24
    for _ in range(2):
        assert client.post(url, data=form(day, "16:00", once=key)).status_code == 302
    assert len(sessions_ahead()) == 2
    # Another therapist's client and an id that is nobody's: 404, nothing made.
    assert client.post(f"/clients/{practice['priya'].id}/sessions/schedule", data=form(day, "18:00")).status_code == 404
    assert client.post("/clients/999999/sessions/schedule", data=form(day, "18:00")).status_code == 404
    assert len(sessions_ahead()) == 2


def test_a_video_link_is_a_link_to_join_for_the_client(practice, app):
    ruth, pair, elena = practice["ruth"], practice["pair"], practice["elena"]
    therapist, member = app.test_client(), app.test_client()
    login(therapist, ruth)
    login(member, elena)
    link = "https://meet.example.com/lopez-family?pwd=abc"
    day = today_for(ruth) + timedelta(days=3)
    assert therapist.post(f"/pairs/{pair.id}/sessions/schedule", data=form(day, location=link)).status_code == 302
    html = member.get("/home").get_data(as_text=True)
    assert re.search(r'<a href="https://meet\.example\.com/lopez-family\?pwd=abc"[^>]*>Join the video call</a>', html)
    assert "Maria (your mother)" in text_of(member.get("/home"))
    assert "Coming up" in text_of(therapist.get(f"/pairs/{pair.id}"))


def test_move_then_cancel_keeps_it_listed_struck_through(practice, app):
    ruth, maria = practice["ruth"], practice["maria"]
    therapist, client = app.test_client(), app.test_client()
    login(therapist, ruth)
    login(client, maria)
    day = today_for(ruth) + timedelta(days=4)
    session = schedule.schedule_session(ruth, maria, day, time(9, 0), 50, "Room 2")
    blocker = schedule.schedule_session(ruth, maria, day, time(11, 0), 50, None)

    edit = f"/sessions/{session.id}/edit"
    assert 'value="09:00"' in therapist.get(edit).get_data(as_text=True)
    assert therapist.post(edit, data=form(day, "11:30", "50", "Room 3")).status_code == 409  # onto the other
    assert therapist.post(edit, data=form(day, "13:00", "40", "Room 3")).status_code == 302
    db.session.expire_all()
    moved = db.session.get(TherapySession, session.id)
    one_pm = datetime.combine(day, time(13), tzinfo=ZoneInfo("America/New_York"))
    assert moved.starts_at == one_pm.astimezone(timezone.utc)
    assert (moved.duration_minutes, moved.location) == (40, "Room 3")
    assert client.get(edit).status_code == 403  # her client may not move it

    cancel = f"/sessions/{blocker.id}/cancel"
    assert "Yes, cancel the session" in text_of(therapist.get(cancel))
    assert therapist.post(cancel).status_code == 302
    db.session.expire_all()
    assert db.session.get(TherapySession, blocker.id).cancelled_at is not None
    home = client.get("/home").get_data(as_text=True)
    london = blocker.starts_at.astimezone(ZoneInfo("Europe/London"))
    struck = rf'<s><time[^>]*>[^<]*{london:%H:%M}</time>–[0-9:]+</s> <span class="badge warn">Cancelled</span>'
    assert re.search(struck, home)
    caseload = therapist.get("/caseload").get_data(as_text=True)
    assert "<s>" in caseload and "Cancelled" in caseload
    # Cancelled: no longer changed, and its time is free again.
    again = therapist.post(cancel, follow_redirects=True)
    assert "can no longer be moved or cancelled" in text_of(again)
    assert therapist.post(f"/clients/{maria.id}/sessions/schedule", data=form(day, "11:00")).status_code == 302


def test_the_caseload_lists_the_next_seven_days_and_the_client_page_all_ahead(practice, client):
    ruth, maria, sam = practice["ruth"], practice["maria"], practice["sam"]
    today = today_for(ruth)
    soon = schedule.schedule_session(ruth, maria, today + timedelta(days=2), time(9, 0), 50, None)
    later = schedule.schedule_session(ruth, practice["pair"], today + timedelta(days=12), time(9, 0), 75, None)
    schedule.schedule_session(sam, practice["priya"], today + timedelta(days=2), time(9, 0), 50, None)
    login(client, ruth)
    caseload = client.get("/caseload").get_data(as_text=True)
    assert f"/sessions/{soon.id}/edit" in caseload and f"/sessions/{later.id}/edit" not in caseload
    assert "Priya" not in caseload
    page = client.get(f"/clients/{maria.id}").get_data(as_text=True)
    assert f"/sessions/{soon.id}/edit" in page and f"/sessions/{later.id}/edit" in page  # her pair's too


def test_a_new_task_is_due_before_the_next_session(practice, client):
    ruth, maria, pair = practice["ruth"], practice["maria"], practice["pair"]
    login(client, ruth)
    today = today_for(maria)

    def default(url):
        html = client.get(url).get_data(as_text=True)
        due = re.search(r'<input[^>]*name="due_date"[^>]*value="([^"]+)"', html).group(1)
        return due, text_of(client.get(url))

    due, _ = default(f"/clients/{maria.id}/assign")
    assert due == today.isoformat()  # nothing scheduled: today, as before
    session_day = today + timedelta(days=6)
    schedule.schedule_session(ruth, maria, session_day, time(12, 0), 50, None)
    due, page = default(f"/clients/{maria.id}/assign")
    assert due == (session_day - timedelta(days=1)).isoformat()
    assert f"the day before your session with Maria on {session_day:%A %-d %b}" in page
    # Tomorrow's pair session: due that day (the day before would be today); for both of them.
    schedule.schedule_session(ruth, pair, today + timedelta(days=1), time(12, 0), 50, None)
    due, page = default(f"/pairs/{pair.id}/assign")
    assert due == (today + timedelta(days=1)).isoformat() and "the day of your session with both" in page


def test_each_person_of_the_session_is_told_when_it_is_scheduled_moved_or_cancelled(practice, mailbox):
    from app.models import Notification
    ruth, maria, elena, pair = practice["ruth"], practice["maria"], practice["elena"], practice["pair"]
    maria.email_notifications = True
    db.session.commit()
    day = today_for(ruth) + timedelta(days=5)

    def notices():
        db.session.expire_all()
        return sorted((n.user_id, n.kind, n.link) for n in db.session.scalars(
            sa.select(Notification).where(Notification.kind.like("session%"))))

    alone = schedule.schedule_session(ruth, maria, day, time(9, 0), 50, "Room 2")
    assert notices() == [(maria.id, "session_scheduled", "/sessions")]
    together = schedule.schedule_session(ruth, pair, day, time(11, 0), 50, None)
    assert [n for n in notices() if n[0] == elena.id] == [(elena.id, "session_scheduled", "/sessions")]
    schedule.reschedule_session(ruth, alone, day, time(10, 0), 50, "Room 2")
    schedule.cancel_session(ruth, together)
    kinds = [kind for user, kind, _ in notices() if user == maria.id]
    assert sorted(kinds) == ["session_cancelled", "session_moved", "session_scheduled", "session_scheduled"]
    assert not schedule.reschedule_session(ruth, alone, day, time(10, 0), 50, "Room 2")  # nothing moved
    assert len(notices()) == 6  # Maria 4, Elena 2: nothing more for a move that moved nothing
    # Her emails say that something is new, never when or where.
    bodies = [mailbox.body(m) for m in mailbox.to(maria.email)]
    assert len(bodies) == 4 and not any("Room 2" in body or "10:00" in body for body in bodies)


def test_a_cancelled_session_is_not_the_last_session_held(practice):
    from app.models import utcnow
    from app.therapy_sessions.session_lists import last_session_start
    ruth, maria = practice["ruth"], practice["maria"]
    held = TherapySession(therapist_id=ruth.id, client_id=maria.id, starts_at=utcnow() - timedelta(days=9))
    cancelled = TherapySession(therapist_id=ruth.id, client_id=maria.id, starts_at=utcnow() - timedelta(days=2),
                               cancelled_at=utcnow() - timedelta(days=4))
    db.session.add_all([held, cancelled])
    db.session.commit()
    assert last_session_start(maria) == held.starts_at  # prep counts "since" from the one held


def test_her_sessions_page_shows_the_soonest_ahead_however_many_are_booked(practice, app):
    ruth, maria = practice["ruth"], practice["maria"]
    start = today_for(ruth) + timedelta(days=3)
    booked = [schedule.schedule_session(ruth, maria, start + timedelta(weeks=n), time(9, 0), 50, None)
              for n in range(12)]  # more than a page of sessions (10)
    client = app.test_client()
    login(client, maria)
    html = client.get("/sessions").get_data(as_text=True)
    ahead = html[html.index("Coming up"):html.index("For next time")]
    shown = re.findall(r'<time datetime="([^"]+)"', ahead)
    assert len(shown) == len(booked) and shown == sorted(shown)  # all of them, soonest first
    assert shown[0].startswith(booked[0].starts_at.strftime("%Y-%m-%dT%H:%M"))
    assert "No sessions recorded yet" in html  # none held: nothing ahead is listed as held


def test_her_export_says_which_sessions_were_held_scheduled_or_cancelled(practice, app):
    import json

    from app.models import utcnow
    ruth, maria = practice["ruth"], practice["maria"]
    db.session.add(TherapySession(therapist_id=ruth.id, client_id=maria.id, starts_at=utcnow() - timedelta(days=7)))
    db.session.commit()
    day = today_for(ruth) + timedelta(days=5)
    schedule.schedule_session(ruth, maria, day, time(9, 0), 50, "Room 2")
    schedule.cancel_session(ruth, schedule.schedule_session(ruth, maria, day, time(11, 0), 50, None))
    client = app.test_client()
    login(client, maria)
    record = json.loads(client.get("/export.json").get_data(as_text=True))
    assert [(s["status"], s["place"]) for s in record["sessions"]] == \
        [("held", None), ("scheduled", "Room 2"), ("cancelled", None)]
