"""The reflection journey with the keyboard alone: Tab, Shift+Tab, Enter, Space and arrows."""
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.clock import today_for
from app.extensions import db
from app.homework.tasks import assign_exercise
from app.models import Exercise, Reflection
from tests.conftest import PASSWORD, make_client, make_therapist


def tab_until(page, description: str, check: str, limit: int = 80) -> None:
    """Press Tab until `check` (a JS expression over `el`, the focused element) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({check}); }})()"):
            return
    raise AssertionError(f"could not reach {description} with Tab")


def test_write_and_send_a_reflection_with_the_keyboard_only(base, page):
    therapist = make_therapist()
    client = make_client(therapist)
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.family == "stay_present"))
    today = today_for(client)
    task = assign_exercise(therapist, client, exercise, due_date=today + timedelta(days=2), today=today)[0]

    page.goto(base + "/login")
    # The email field has focus when the page opens (wait for it, or the first key is lost).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")
    page.keyboard.type(client.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Hello, {client.name}")).to_be_visible()

    # The skip link is the first stop, and it leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"

    tab_until(page, "the task link", f"el.tagName === 'A' && el.textContent.includes({exercise.title!r})")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tasks/{task.id}")

    tab_until(page, "the first answer", "el.id === 'answer_0'")
    page.keyboard.type("Breakfast together, no phones.")
    page.keyboard.press("Tab")
    page.keyboard.type("The usual about my sister.")
    page.keyboard.press("Tab")
    page.keyboard.type("Breathing out slowly.")

    tab_until(page, "the resentment scale", "el.name === 'resentment'")
    page.keyboard.press("Space")          # 0
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # 3
    tab_until(page, "the closeness scale", "el.name === 'closeness'")
    page.keyboard.press("Space")
    for _ in range(7):
        page.keyboard.press("ArrowRight")  # 7
    tab_until(page, "stayed present", "el.name === 'stayed_present'")
    page.keyboard.press("Space")          # yes
    tab_until(page, "the send button", "el.tagName === 'BUTTON' && el.value === 'submit'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Sent to your therapist")).to_be_visible()

    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert reflection.status == "submitted"
    assert reflection.answers == ["Breakfast together, no phones.", "The usual about my sister.",
                                  "Breathing out slowly."]
    assert (reflection.resentment, reflection.closeness, reflection.stayed_present) == (3, 7, "yes")


def test_focus_is_always_visible(base, page):
    make_therapist()
    page.goto(base + "/login")
    for _ in range(6):
        page.keyboard.press("Tab")
        style = page.evaluate("""(() => { const s = getComputedStyle(document.activeElement);
            return [s.outlineStyle, s.outlineWidth, document.activeElement.tagName]; })()""")
        if style[2] in ("A", "BUTTON", "INPUT"):
            assert style[0] != "none" and style[1] != "0px", f"no visible focus on {style[2]}"
