"""A refused send in the browser (issue 17, item 2): the error summary takes the focus, each of its
links focuses its field with the question in view, nothing scrolls sideways on a 375 px phone,
and the counter under an answer appears only near the limit."""
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.clock import today_for
from app.core.forms import ANSWER_MAX
from app.extensions import db
from app.homework.reflection_forms import COUNT_FROM
from app.homework.tasks import assign_exercise
from app.models import Exercise
from tests.browser.conftest import new_signed_in_page
from tests.conftest import PASSWORD, make_client, make_therapist

PHONE = {"width": 375, "height": 740}
# Functions, not bare expressions: Playwright evaluates a bare one with eval(), which the
# page's Content-Security-Policy refuses.
FOCUSED_IS_SUMMARY = "() => !!document.activeElement && document.activeElement.hasAttribute('data-error-summary')"


def focused_id(element_id: str) -> str:
    return f"() => !!document.activeElement && document.activeElement.id === {element_id!r}"


def _open_task():
    therapist = make_therapist()
    client = make_client(therapist)
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.family == "stay_present"))
    today = today_for(client)
    task = assign_exercise(therapist, client, exercise, due_date=today + timedelta(days=2), today=today)[0]
    return client, task


def _refused_send(page, base, task):
    """Two ratings left out, then "Send" (the box's maxlength keeps an over-long answer out of
    a browser: tests/test_error_summary.py posts one)."""
    page.goto(f"{base}/tasks/{task.id}")
    page.locator("#answer_0").fill("We laughed about the dog.")
    page.locator("#answer_1").fill("Then the old argument about the car, and I breathed out.")
    page.locator("#stayed_present-1").check()
    page.get_by_role("button", name="Send to").click()
    page.wait_for_function(FOCUSED_IS_SUMMARY)


def test_a_refused_send_focuses_the_summary_and_its_links_focus_the_fields(base, browser, screenshots):
    client, task = _open_task()
    page = new_signed_in_page(browser, base, client, PASSWORD)
    _refused_send(page, base, task)

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_in_viewport()
    links = summary.get_by_role("link")
    expect(links).to_have_count(2)
    expect(page).to_have_title(f"Error: {task.title} · Common Ground")
    # Her words came back.
    expect(page.locator("#answer_0")).to_have_value("We laughed about the dog.")
    expect(page.locator("#stayed_present-1")).to_be_checked()
    page.screenshot(path=str(screenshots / "error-summary-1280.png"), full_page=True)

    summary.get_by_role("link", name="Please choose how close you felt before sending.").click()
    page.wait_for_function(focused_id("closeness-0"))
    expect(page.locator("fieldset:has(#closeness-0) legend")).to_be_in_viewport()

    # Back to the summary, then its first link with the keyboard.
    summary.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#resentment-0"
    page.keyboard.press("Enter")
    page.wait_for_function(focused_id("resentment-0"))
    expect(page.locator("fieldset:has(#resentment-0) legend")).to_be_in_viewport()
    page.keyboard.press("ArrowRight")  # the group works as ever: 1 chosen
    expect(page.locator("#resentment-1")).to_be_checked()
    page.context.close()


def test_on_a_phone_nothing_scrolls_sideways(base, browser, screenshots):
    client, task = _open_task()
    page = new_signed_in_page(browser, base, client, PASSWORD, viewport=PHONE, is_mobile=True,
                              has_touch=True, device_scale_factor=2)
    _refused_send(page, base, task)
    expect(page.locator("[data-error-summary]")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshots / "error-summary-375.png"))
    page.screenshot(path=str(screenshots / "error-summary-375-full.png"), full_page=True)
    # Each link is a tap target of at least 44 px high, the width of the card.
    heights = page.eval_on_selector_all("[data-error-summary] a",
                                        "els => els.map(a => a.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44
    # A tap on a link brings her question into view, its first choice focused.
    page.locator("[data-error-summary]").get_by_role("link", name="how strong the resentment").tap()
    page.wait_for_function(focused_id("resentment-0"))
    expect(page.locator("fieldset:has(#resentment-0) legend")).to_be_in_viewport()
    page.screenshot(path=str(screenshots / "error-summary-375-after-tap.png"))
    page.context.close()


def test_without_javascript_the_summary_is_there_and_its_links_lead_to_the_fields(base, browser):
    client, task = _open_task()
    page = new_signed_in_page(browser, base, client, PASSWORD, java_script_enabled=False)
    page.goto(f"{base}/tasks/{task.id}")
    page.get_by_role("button", name="Send to").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link")).to_have_count(4)
    summary.get_by_role("link", name="Please choose how strong the resentment felt before sending.").click()
    assert page.url.endswith("#resentment-0")
    expect(page.locator("#resentment-0")).to_be_in_viewport()
    page.context.close()


def test_the_counter_appears_only_near_the_limit(base, browser):
    client, task = _open_task()
    page = new_signed_in_page(browser, base, client, PASSWORD)
    page.goto(f"{base}/tasks/{task.id}")
    area, counter = page.locator("#answer_0"), page.locator("#answer_0-count")
    expect(counter).to_be_hidden()
    area.fill("A few words.")
    expect(counter).to_be_hidden()
    assert "answer_0-count" not in (area.get_attribute("aria-describedby") or "")

    area.fill("y" * (COUNT_FROM - 1))
    expect(counter).to_be_hidden()
    area.press("End")
    area.press_sequentially("y")
    expect(counter).to_be_visible()
    expect(counter).to_have_text(f"{COUNT_FROM:,} / {ANSWER_MAX:,} characters")
    assert "answer_0-count" in area.get_attribute("aria-describedby").split()
    # Crossing into "near" is said once, in a status region (the counter itself is not live).
    expect(page.get_by_role("status").filter(has_text="characters left in this answer")).to_have_count(1)

    # Over the limit (the box's maxlength stops typing there; a draft from before it can be):
    area.evaluate("(el, n) => { el.value = 'y'.repeat(n); "
                  "el.dispatchEvent(new Event('input', {bubbles: true})); }", ANSWER_MAX + 3)
    expect(counter).to_contain_text("3 too many; please shorten it")
    expect(page.get_by_role("status").filter(has_text="3 characters too many")).to_have_count(1)
    area.fill("Short again.")
    expect(counter).to_be_hidden()
    assert "answer_0-count" not in (area.get_attribute("aria-describedby") or "")
    page.context.close()
