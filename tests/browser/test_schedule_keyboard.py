"""Scheduling a session ahead, then cancelling it, with the keyboard alone (Tab, typing, Enter):
the date and time fields, the confirmation page and the struck-through result."""
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.clock import today_for
from app.extensions import db
from app.models import TherapySession
from tests.browser.conftest import sign_in
from tests.browser.test_keyboard import tab_until
from tests.conftest import PASSWORD, make_client, make_therapist


def type_into(page, field: str, ways: list[str], expected: str) -> None:
    """Type into the focused date or time field; back to its first segment and the next way
    when it holds something else (a time typed as 1430 fills both 24 h and am/pm fields)."""
    for i, keys in enumerate(ways):
        if i:
            for _ in range(3):
                page.keyboard.press("ArrowLeft")
        page.keyboard.type(keys)
        if page.input_value(f"#{field}") == expected:
            return
    raise AssertionError(f"the {field} field took none of {ways}: {page.input_value('#' + field)!r}")


def test_schedule_and_cancel_a_session_with_the_keyboard_only(base, page):
    therapist = make_therapist("Ruth Alder", timezone="Europe/London")
    client = make_client(therapist, "Maria Lopez")
    day = today_for(therapist) + timedelta(days=10)
    sign_in(page, base, therapist.email, PASSWORD)
    page.goto(f"{base}/clients/{client.id}")

    tab_until(page, "the schedule link", "el.tagName === 'A' && el.textContent.trim() === 'Schedule a session'")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/clients/{client.id}/sessions/schedule")
    tab_until(page, "the date", "el.id === 'day'")
    # The date's segments follow the browser's own language (day/month or month/day), whatever
    # the page's: type one way, and if the field did not take it, the other.
    type_into(page, "day", [day.strftime("%d%m%Y"), day.strftime("%m%d%Y")], day.isoformat())
    tab_until(page, "the time", "el.id === 'time'")
    type_into(page, "time", ["1430"], "14:30")
    tab_until(page, "the place", "el.id === 'location'")
    page.keyboard.type("https://meet.example.com/maria")
    page.keyboard.press("Enter")

    page.wait_for_url(f"**/clients/{client.id}")
    expect(page.get_by_text("Session scheduled:")).to_be_visible()
    session = db.session.scalar(sa.select(TherapySession))
    assert session.duration_minutes == 50 and session.location == "https://meet.example.com/maria"
    assert session.starts_at.strftime("%H:%M") in ("14:30", "13:30")  # UTC, winter or summer

    tab_until(page, "the cancel link", "el.tagName === 'A' && el.textContent.startsWith('Cancel')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/sessions/{session.id}/cancel")
    tab_until(page, "the confirmation", "el.tagName === 'BUTTON' && el.textContent.includes('Yes, cancel')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/clients/{client.id}")
    expect(page.locator(".upcoming.is-cancelled s").first).to_be_visible()
    db.session.expire_all()
    assert db.session.get(TherapySession, session.id).cancelled_at is not None
