"""Issue 22, items 8 and 2, in a real browser: two tabs on one draft never overwrite each other
(the stale tab shows both texts and asks: "Keep both", "Keep mine", "Keep the other", by keyboard
too); and an autosave that gets no answer says "Not saved yet" within 10 seconds, with the words
still on the page and in the sealed copy on this device."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.homework.drafts import BOTH_MARK
from app.models import Reflection
from tests.browser.conftest import new_signed_in_page
from tests.browser.test_local_copy import PROMPT, _client_with_a_task, _open_copy
from tests.conftest import PASSWORD

FIRST = "Written in the first tab: we laughed about the burnt cake."
SECOND = "Written in the second tab."
NO_COPIES = "() => !Object.keys(localStorage).some(k => k.startsWith('cg-draft-'))"


def _saved(task_id: int) -> str | None:
    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task_id))
    return reflection.answers[0] if reflection else None


def _two_tabs(browser, base):
    """One client, one task, the task open in two tabs; the first tab saves its words."""
    client, task, key = _client_with_a_task()
    first = new_signed_in_page(browser, base, client, PASSWORD)
    first.goto(f"{base}/tasks/{task.id}")
    second = first.context.new_page()
    second.set_default_timeout(10_000)
    second.goto(f"{base}/tasks/{task.id}")
    area = first.get_by_label(PROMPT)
    area.fill(FIRST)
    area.blur()
    expect(first.locator("[data-save-status]")).to_contain_text("Draft saved at")
    assert _saved(task.id) == FIRST
    return task, key, first, second


def _press_by_keyboard(page, name: str) -> None:
    """From the first answer, back with Shift+Tab to the button, and press it with Enter."""
    page.get_by_label(PROMPT).focus()
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == name:
            page.keyboard.press("Enter")
            return
    raise AssertionError(f"“{name}” cannot be reached with the keyboard")


@pytest.mark.parametrize("choice", ["Keep mine", "Keep the other", "Keep both"])
def test_the_stale_tab_shows_both_texts_and_each_choice_works(app, live_server, browser, choice):
    task, key, first, second = _two_tabs(browser, live_server)
    errors = []
    second.on("pageerror", lambda error: errors.append(error))

    area = second.get_by_label(PROMPT)
    area.fill(SECOND)
    area.blur()
    panel = second.locator(".draft-conflict")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="This draft was also changed elsewhere")).to_be_visible()
    expect(panel).to_contain_text(FIRST)
    expect(panel).to_contain_text(SECOND)
    expect(second.locator("[data-save-status]")).to_contain_text("also changed in another tab")
    assert _saved(task.id) == FIRST  # the acknowledged text is still the draft
    expect(area).to_have_value(SECOND)  # and hers is still on her page
    second.wait_for_timeout(3500)  # past the typing pause: still no autosave over the other
    assert _saved(task.id) == FIRST

    _press_by_keyboard(second, choice)
    expect(panel).to_have_count(0)
    if choice == "Keep mine":
        expect(second.locator("[data-save-status]")).to_contain_text("Draft saved at")
        expected = SECOND
    elif choice == "Keep the other":
        expect(second.locator("[data-save-status]")).to_contain_text("You kept the version saved elsewhere")
        expected = FIRST
    else:
        expect(second.locator("[data-save-status]")).to_contain_text("Draft saved at")
        expected = f"{SECOND}\n\n{BOTH_MARK}\n\n{FIRST}"
    expect(area).to_have_value(expected)
    assert _saved(task.id) == expected
    second.wait_for_function(NO_COPIES)
    assert errors == []

    # The first tab is the stale one now (unless the other was kept: nothing was saved).
    other = first.get_by_label(PROMPT)
    other.fill(FIRST + " And more.")
    other.blur()
    if choice == "Keep the other":
        expect(first.locator("[data-save-status]")).to_contain_text("Draft saved at")
    else:
        expect(first.locator(".draft-conflict")).to_be_visible()
        assert _saved(task.id) == expected
    first.context.close()


def test_the_forms_own_save_from_a_stale_tab_shows_the_choice_and_nothing_autosaves_over_it(
        app, live_server, browser):
    task, key, first, second = _two_tabs(browser, live_server)
    drafts_posted = []
    second.on("request", lambda request: drafts_posted.append(request.url)
              if request.url.endswith("/draft") else None)
    second.route("**/tasks/*/draft", lambda route: route.abort())  # so the form's own post is used
    second.get_by_label(PROMPT).fill(SECOND)
    second.get_by_role("button", name="Save draft").click()
    expect(second.locator(".draft-conflict")).to_be_visible()
    expect(second.get_by_text("Not saved yet: this draft was also changed")).to_be_visible()
    assert _saved(task.id) == FIRST
    second.unroute("**/tasks/*/draft")
    drafts_posted.clear()
    area = second.get_by_label(PROMPT)
    area.press("End")
    area.press_sequentially(" Still typing.")
    area.blur()
    second.wait_for_timeout(3500)
    assert drafts_posted == [] and _saved(task.id) == FIRST  # no autosave until she chooses
    second.get_by_role("button", name="Keep both").click()
    expect(second.get_by_text("Both versions are kept in your draft")).to_be_visible()
    assert _saved(task.id) == f"{SECOND} Still typing.\n\n{BOTH_MARK}\n\n{FIRST}"
    second.wait_for_function(NO_COPIES)
    first.context.close()


def test_a_copy_on_this_device_meets_a_draft_saved_elsewhere_and_both_are_shown(app, live_server, browser):
    """This device's words never reached the server (its autosaves fail) and stay in the sealed
    copy; another device saves meanwhile. Opened again here, the page puts hers back and shows
    both, rather than dropping hers or saving it over the other."""
    client, task, key = _client_with_a_task()
    second = new_signed_in_page(browser, live_server, client, PASSWORD)
    second.route("**/tasks/*/draft", lambda route: route.abort())
    second.goto(f"{live_server}/tasks/{task.id}")
    second.get_by_label(PROMPT).fill(SECOND)
    deadline = time.monotonic() + 10
    while (_open_copy(second, key) or {}).get("data", {}).get("answer_0") != SECOND:
        assert time.monotonic() < deadline, "no sealed copy was kept"
        time.sleep(0.1)

    first = new_signed_in_page(browser, live_server, client, PASSWORD)  # another device
    first.goto(f"{live_server}/tasks/{task.id}")
    first.get_by_label(PROMPT).fill(FIRST)
    first.get_by_label(PROMPT).blur()
    expect(first.locator("[data-save-status]")).to_contain_text("Draft saved at")
    first.context.close()

    second.unroute("**/tasks/*/draft")
    second.on("dialog", lambda dialog: dialog.accept())  # leaving with unsaved text: yes
    second.reload()
    panel = second.locator(".draft-conflict")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(FIRST)
    expect(panel).to_contain_text(SECOND)
    expect(second.get_by_label(PROMPT)).to_have_value(SECOND)
    assert _saved(task.id) == FIRST
    second.get_by_role("button", name="Keep both").click()
    expect(second.locator("[data-save-status]")).to_contain_text("Draft saved at")
    assert _saved(task.id) == f"{SECOND}\n\n{BOTH_MARK}\n\n{FIRST}"
    second.context.close()


def test_an_autosave_that_gets_no_answer_says_not_saved_yet_within_ten_seconds(app, live_server, browser):
    client, task, key = _client_with_a_task()
    page = new_signed_in_page(browser, live_server, client, PASSWORD)
    hung = []
    page.route("**/tasks/*/draft", lambda route: hung.append(route))  # never answered
    page.goto(f"{live_server}/tasks/{task.id}")
    area = page.get_by_label(PROMPT)
    area.fill(SECOND)
    area.blur()  # saves at once
    started = time.monotonic()
    expect(page.locator("[data-save-status]")).to_contain_text("Saving")
    expect(page.locator("[data-save-status]")).to_contain_text("Not saved yet", timeout=10_000)
    assert time.monotonic() - started <= 10
    assert hung, "the autosave was not sent"
    expect(area).to_have_value(SECOND)
    assert (_open_copy(page, key) or {}).get("data", {}).get("answer_0") == SECOND
    assert _saved(task.id) != SECOND

    # The network comes back: the retry saves it, and the copy goes.
    page.unroute("**/tasks/*/draft")
    expect(page.locator("[data-save-status]")).to_contain_text("Draft saved at", timeout=20_000)
    assert _saved(task.id) == SECOND
    page.wait_for_function(NO_COPIES)
    page.context.close()


def test_sending_while_this_page_autosaves_is_not_a_conflict_with_itself(app, live_server, browser):
    """Found by CI: "Send" pressed while this page's own autosave was on its way carried the
    version from before that autosave, and the page was told it conflicted with another tab.
    The post now waits for the autosave's answer and carries the version it made."""
    base = live_server
    client, task, _key = _client_with_a_task()
    page = new_signed_in_page(browser, base, client, PASSWORD)

    held = []

    def saved_but_unanswered(route):
        # The autosave reaches the server and is saved; its answer is held back until "Send"
        # has been pressed.
        held.append((route, route.fetch()))

    page.route("**/tasks/*/draft", saved_but_unanswered)
    page.goto(f"{base}/tasks/{task.id}")
    page.get_by_label(PROMPT).fill("Sent while saving: the walk by the river.")
    for name, value in (("resentment", "3"), ("closeness", "7"), ("stayed_present", "yes")):
        page.locator(f"input[name={name}][value='{value}']").check()
    page.get_by_label(PROMPT).blur()  # the autosave starts
    page.wait_for_function("() => document.querySelector('[data-save-status]').textContent.includes('Saving')")
    page.get_by_role("button", name="Send to").first.click()
    page.wait_for_timeout(300)
    for route, response in held:
        route.fulfill(response=response)
    page.unroute("**/tasks/*/draft")
    expect(page.get_by_text("Sent to your therapist")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("also changed in another tab")).to_have_count(0)
    db.session.expire_all()
    sent = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert sent.status == "submitted" and sent.answers[0].startswith("Sent while saving")
