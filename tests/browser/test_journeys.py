"""Whole journeys in a real browser, as a therapist and a client would make them."""
import re

import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.models import Reflection
from tests.browser.conftest import new_signed_in_page, sign_in
from tests.conftest import PASSWORD, make_client, make_therapist

NEW_PASSWORD = "tea on the balcony at dawn"


def test_invitation_to_feedback_journey(base, page, browser):
    therapist = make_therapist("Ruth")

    # The therapist invites a client and copies the link from her caseload (no email needed).
    sign_in(page, base, therapist.email, PASSWORD)
    page.get_by_role("link", name="Invite", exact=True).click()
    page.get_by_label("Client's email").fill("lena@example.org")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("The invitation is on its way to lena@example.org")).to_be_visible()
    link = page.locator(".invitation input.link-field").input_value()
    assert "/invitations/accept/" in link

    # The client opens it, picks her name and password, and lands on her home page.
    client_context = browser.new_context(viewport={"width": 390, "height": 844})
    client_page = client_context.new_page()
    client_page.set_default_timeout(10_000)
    client_page.goto(link)
    client_page.get_by_label("Your name").fill("Lena")
    client_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    client_page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    client_page.get_by_role("button", name="Create my account").click()
    expect(client_page.get_by_role("heading", name="Hello, Lena")).to_be_visible()

    # The therapist assigns an exercise due today.
    page.get_by_role("link", name="Caseload", exact=True).click()
    page.get_by_role("link", name="Lena").click()
    page.get_by_role("link", name="Assign an exercise").click()
    page.get_by_label("Exercise").select_option(label="Catch a good moment")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("“Catch a good moment” assigned to Lena.")).to_be_visible()

    # The client starts writing; autosave reaches the server; she closes the tab mid-way.
    client_page.reload()
    client_page.get_by_role("link", name="Catch a good moment").click()
    first = client_page.get_by_label("What happened? Where were you, and what made the moment good?")
    first.fill("We laughed about the burnt cake.\n\nShe held my hand for a moment.")
    first.blur()
    expect(client_page.locator("[data-save-status]")).to_contain_text("Draft saved at")
    task_url = client_page.url
    client_page.close()

    # She comes back later in a new tab and finds her draft exactly as she left it.
    client_page = client_context.new_page()
    client_page.set_default_timeout(10_000)
    client_page.goto(task_url)
    first = client_page.get_by_label("What happened? Where were you, and what made the moment good?")
    expect(first).to_have_value("We laughed about the burnt cake.\n\nShe held my hand for a moment.")
    client_page.get_by_label("Did an old resentment try to pull you away from it? What did it say?").fill(
        "A little: the old story about the wedding.")
    client_page.locator("input[name=resentment][value='3']").check()
    client_page.locator("input[name=closeness][value='8']").check()
    client_page.locator("input[name=stayed_present][value='yes']").check()
    client_page.get_by_role("button", name=re.compile("^Send to")).click()
    expect(client_page.get_by_text("Sent to your therapist")).to_be_visible()

    # The therapist reviews it from her queue and writes feedback.
    page.get_by_role("link", name="Review", exact=True).click()
    page.get_by_role("link", name=re.compile("Lena · Catch a good moment")).click()
    expect(page.get_by_text("We laughed about the burnt cake.")).to_be_visible()
    page.get_by_label("Feedback — your client reads this").fill("What a lovely moment to keep. Well noticed.")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Feedback sent.")).to_be_visible()

    # The client sees a new-feedback marker at home, and the feedback under her reflection.
    client_page.goto(task_url.rsplit("/tasks/", 1)[0] + "/home")
    expect(client_page.get_by_text("new feedback", exact=True)).to_be_visible()
    client_page.get_by_role("link", name="Catch a good moment").click()
    expect(client_page.get_by_text("What a lovely moment to keep. Well noticed.")).to_be_visible()
    client_context.close()


def test_text_typed_just_before_the_tab_closes_comes_back(base, browser):
    """Typed, then the tab closed before the autosave ran: the copy on the device restores it
    and sends it to the server."""
    from datetime import timedelta

    from app.core.clock import today_for
    from app.homework.tasks import assign_exercise
    from app.models import Exercise

    therapist = make_therapist()
    client = make_client(therapist)
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.family == "choose_battles"))
    task = assign_exercise(therapist, client, exercise, due_date=today_for(client) + timedelta(days=1),
                           today=today_for(client))[0]
    page = new_signed_in_page(browser, base, client, PASSWORD)
    page.goto(f"{base}/tasks/{task.id}")
    area = page.get_by_label("Which argument was it, and how did it start this time?")
    area.press_sequentially("Christmas, again")
    page.close()  # before the three-second pause has passed: nothing reached the server yet

    page = page.context.new_page()
    page.goto(f"{base}/tasks/{task.id}")
    expect(page.get_by_label("Which argument was it, and how did it start this time?")).to_have_value(
        "Christmas, again")
    # Either the device copy was restored and saved now ("Draft saved at ..."), or the save that
    # leaving the field started as the tab closed had already reached the server ("Draft saved
    # <date>"): in both cases the text is on the server.
    expect(page.locator("[data-save-status]")).to_contain_text("Draft saved")
    db.session.expire_all()
    saved = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert saved.answers[0] == "Christmas, again"
    page.context.close()


def test_a_failed_save_is_shown_plainly_and_retried(base, browser):

    from app.core.clock import today_for
    from app.homework.tasks import assign_exercise
    from app.models import Exercise

    therapist = make_therapist()
    client = make_client(therapist)
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.family == "stay_present"))
    task = assign_exercise(therapist, client, exercise, due_date=today_for(client), today=today_for(client))[0]
    page = new_signed_in_page(browser, base, client, PASSWORD)
    page.goto(f"{base}/tasks/{task.id}")

    failures = {"left": 2}

    def flaky(route):
        if failures["left"] > 0:
            failures["left"] -= 1
            route.fulfill(status=503, body="unavailable")
        else:
            route.continue_()

    page.route("**/draft", flaky)
    area = page.get_by_label("What happened? Where were you, and what made the moment good?")
    area.fill("A quiet walk to the bus stop.")
    area.blur()
    expect(page.locator("[data-save-status]")).to_contain_text("Not saved yet — your text is still here")
    expect(page.locator("[data-save-status]")).to_contain_text("Draft saved at", timeout=20_000)
    db.session.expire_all()
    saved = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
    assert saved.answers[0] == "A quiet walk to the bus stop."
    page.context.close()
