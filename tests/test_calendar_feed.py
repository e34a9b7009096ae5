"""The therapist's calendar subscription, through HTTP: the address is made and shown once, the
feed (parsed back with icalendar) carries times in UTC, initials unless she chooses names, a
place only with names, never a video link or a note; renewing or turning it off ends the old
address (404), its secret never reaches the logs, and fetching it is throttled and audited."""
from __future__ import annotations

import re
from datetime import time, timedelta

import icalendar
import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.models import AuditEvent, User
from app.therapy_sessions import schedule
from app.therapy_sessions import services as sessions
from app.web.log_hygiene import redact
from tests.builders_sessions import linked_pair
from tests.conftest import login, make_client, make_therapist

NOTE = "ZZNOTE-shared-summary"
CLINICAL = "ZZNOTE-clinical"
LINK = "https://meet.example.com/secret-room-42"


@pytest.fixture
def practice(app):
    """Ruth with Maria (a video session ahead, a held one with notes) and Maria and Elena as a
    pair (a session ahead in a room); Sam with a session of his own."""
    ruth = make_therapist("Ruth Alder")
    maria = make_client(ruth, "Maria Lopez")
    elena = make_client(ruth, "Elena Lopez")
    pair = linked_pair(ruth, maria, elena)
    today = today_for(ruth)
    video = schedule.schedule_session(ruth, maria, today + timedelta(days=2), time(9, 0), 50, LINK)
    room = schedule.schedule_session(ruth, pair, today + timedelta(days=3), time(17, 0), 75, "Room 2, Harbour St")
    held = sessions.record_session(ruth, maria, today - timedelta(days=7), time(10, 0), None)
    sessions.save_shared_note(ruth, held, NOTE, 0)
    sessions.save_clinical_note(ruth, held, CLINICAL, 0)
    sam = make_therapist("Sam Okafor")
    schedule.schedule_session(sam, make_client(sam, "Priya Nair"), today + timedelta(days=2), time(9, 0), 50, None)
    return dict(ruth=ruth, maria=maria, pair=pair, video=video, room=room, held=held, sam=sam)


def make_address(browser, once=None) -> tuple[str, str]:
    """Make (or renew) the address through her page; the address and the page's HTML."""
    html = browser.post("/account/calendar/address", data={"once": once} if once else {}).get_data(as_text=True)
    match = re.search(r'id="calendar-address" readonly value="([^"]+)"', html)
    return (match.group(1) if match else None), html


def fetch(app, address: str):
    return app.test_client().get(address.replace("http://localhost", ""))


def events(response) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(response.get_data())
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_the_feed_sends_initials_times_in_utc_and_never_a_link_or_a_note(practice, app):
    ruth, video, room, held = practice["ruth"], practice["video"], practice["room"], practice["held"]
    browser = app.test_client()
    login(browser, ruth)
    address, page = make_address(browser)
    assert address and "shown only this once" in page
    assert address not in browser.get("/account/calendar").get_data(as_text=True)  # shown once

    response = fetch(app, address)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert "no-store" in response.headers["Cache-Control"]
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.get_data(as_text=True)
    assert "X-PUBLISHED-TTL:PT1H" in response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    for never in ("Maria", "Elena", "Lopez", LINK, "secret-room", NOTE, CLINICAL, "Harbour", "Priya"):
        assert never not in body, never
    found = events(response)
    assert set(found) == {f"session-{s.id}@localhost" for s in (video, room, held)}  # not Sam's
    assert str(found[f"session-{video.id}@localhost"]["summary"]) == "Session — M.L."
    assert str(found[f"session-{room.id}@localhost"]["summary"]) == "Pair session — M.L. & E.L."
    event = found[f"session-{room.id}@localhost"]
    assert event.decoded("dtstart") == room.starts_at and f"DTSTART:{room.starts_at:%Y%m%dT%H%M%SZ}" in body
    assert event.decoded("dtend") == room.starts_at + timedelta(minutes=75)
    assert "location" not in event and str(event["status"]) == "CONFIRMED"
    assert "Video call" in str(found[f"session-{video.id}@localhost"]["description"])
    # The same feed again: the same events, stamp for stamp (nothing changed, nothing differs).
    assert fetch(app, address).get_data() == response.get_data()
    # Each fetch is an audit row of hers, holding no secret (rows have no text to hold one).
    fetches = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "calendar_feed_read")).all()
    assert len(fetches) == 2 and {f.actor_id for f in fetches} == {ruth.id}
    assert "last fetched" in browser.get("/account/calendar").get_data(as_text=True)


def test_names_and_places_only_when_she_chooses_them_and_cancelled_is_cancelled(practice, app):
    ruth, video, room = practice["ruth"], practice["video"], practice["room"]
    browser = app.test_client()
    login(browser, ruth)
    address, _ = make_address(browser)
    assert browser.post("/account/calendar/names", data={"shows": "names"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, ruth.id).calendar_shows_names is True
    schedule.cancel_session(db.session.get(User, ruth.id), video)

    found = events(fetch(app, address))
    named = found[f"session-{video.id}@localhost"]
    assert str(named["summary"]) == f"Cancelled: Session — {practice['maria'].name}"
    assert str(named["status"]) == "CANCELLED" and "location" not in named
    assert LINK not in fetch(app, address).get_data(as_text=True)  # a video link: never
    assert str(found[f"session-{room.id}@localhost"]["location"]) == "Room 2, Harbour St"
    # Back to initials.
    assert browser.post("/account/calendar/names", data={"shows": "initials"}).status_code == 302
    assert "Maria" not in fetch(app, address).get_data(as_text=True)
    assert browser.post("/account/calendar/names", data={"shows": "everything"}).status_code == 400


def test_renewing_or_turning_off_ends_the_old_address(practice, app):
    browser = app.test_client()
    login(browser, practice["ruth"])
    first, _ = make_address(browser, once="a" * 24)
    again, page = make_address(browser, once="a" * 24)  # the same form sent twice: one address
    assert again is None and "cannot be shown again" in page
    assert fetch(app, first).status_code == 200

    second, _ = make_address(browser)
    assert second != first
    assert fetch(app, first).status_code == 404 and fetch(app, second).status_code == 200
    assert browser.post("/account/calendar/revoke").status_code == 302
    assert fetch(app, second).status_code == 404
    db.session.expire_all()
    assert db.session.get(User, practice["ruth"].id).calendar_token_hash is None
    token = second.rsplit("/", 1)[1]
    assert token not in redact(f'127.0.0.1 - - "GET /calendar/{token} HTTP/1.1" 404 -')
    # A client has no calendar to manage.
    other = app.test_client()
    login(other, practice["maria"])
    assert other.post("/account/calendar/address").status_code == 403


def test_fetching_is_throttled_per_address(practice, app):
    app.config["CALENDAR_FEED_RATE"] = "2 per minute"
    browser = app.test_client()
    login(browser, practice["ruth"])
    address, _ = make_address(browser)
    assert [fetch(app, address).status_code for _ in range(3)] == [200, 200, 429]
