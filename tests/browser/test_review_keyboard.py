"""Review five reflections with the keyboard alone (issue 18, part 5): j to the first in the
queue, ? for the shortcuts (focus moves in, Escape closes, focus comes back), Enter to open; then
for each: f to the feedback box, type, Tab to Send, Enter, n to the next; "All caught up" at the
end. Moving on with unsent feedback asks first, and staying keeps every word."""
import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.models import Feedback
from tests.browser.conftest import sign_in
from tests.browser.test_keyboard import tab_until
from tests.builders_homework import assign, days_ago, submit
from tests.conftest import PASSWORD, make_client, make_therapist

FOCUSED_ID = "document.activeElement && document.activeElement.id"


def expect_keys_working(button):
    """review-keys.js has run on this page, so its keydown listener is there: the script shows the
    button and listens for the keys in one go. Being visible is not enough: the button is drawn
    while the page still loads (app.css's `button { display: inline-block }` outweighs the
    `hidden` attribute), and a key pressed before the script has run does nothing."""
    expect(button).to_be_visible()
    expect(button).to_have_js_property("hidden", False)


def test_review_five_reflections_with_the_keyboard_alone(base, page):
    ruth = make_therapist("Ruth")
    clients = [make_client(ruth, "Maria"), make_client(ruth, "Elena")]
    waiting = [submit(clients[i % 2], assign(ruth, clients[i % 2], title=f"Exercise {i}"),
                      [f"Answer {i}"], submitted_at=days_ago(9 - i)) for i in range(5)]
    sign_in(page, base, ruth.email, PASSWORD)
    page.goto(base + "/review")
    shortcuts_button = page.get_by_role("button", name="Keyboard shortcuts")
    expect_keys_working(shortcuts_button)

    page.keyboard.press("j")
    first_row = f"document.activeElement.getAttribute('href') === '/reflections/{waiting[0].id}'"
    assert page.evaluate(first_row)
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    assert page.evaluate("document.getElementById('review-keys-help').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    assert page.evaluate(first_row)
    page.keyboard.press("Enter")

    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    for i, reflection in enumerate(waiting):
        page.wait_for_url(f"**/reflections/{reflection.id}")
        expect_keys_working(shortcuts_button)
        page.keyboard.press("f")
        assert page.evaluate(FOCUSED_ID) == "feedback-body"
        page.keyboard.type(f"Thank you, {i}.")
        if i == 0:
            page.keyboard.press("n")  # typing in the box: a letter, not a shortcut
            assert page.input_value("#feedback-body") == "Thank you, 0.n"
            page.keyboard.press("Backspace")
            page.keyboard.press("Tab")
            page.keyboard.press("n")  # unsent feedback: the page asks before leaving; she stays
            for _ in range(20):
                if asked:
                    break
                page.wait_for_timeout(100)
            assert asked == ["beforeunload"] and page.url.endswith(f"/reflections/{reflection.id}")
            assert page.input_value("#feedback-body") == "Thank you, 0."
        tab_until(page, "the send button", "el.tagName === 'BUTTON' && el.textContent.trim() === 'Send feedback'")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Feedback sent.")).to_be_visible()
        expect(page.locator("#feedback-body")).to_have_value("")  # sent: not put back as unsent
        if i < len(waiting) - 1:
            expect(page.get_by_role("link", name="Next reflection")).to_be_visible()
            expect_keys_working(shortcuts_button)
            page.keyboard.press("n")
    expect(page.get_by_role("heading", name="All caught up")).to_be_visible()

    db.session.expire_all()
    got = dict(db.session.execute(sa.select(Feedback.reflection_id, Feedback.body)).all())
    assert got == {r.id: f"Thank you, {i}." for i, r in enumerate(waiting)}
    assert asked == ["beforeunload"]  # sending never asked: only leaving with unsent text did
