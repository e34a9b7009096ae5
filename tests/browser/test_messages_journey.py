"""Messages in a real browser, on a phone, by keyboard: the client answers her therapist's
feedback from the task page, the therapist reads it (About links to her review page) and
answers, and each side sees "Read" under her last message once the other has opened it."""
import re

from playwright.sync_api import expect

from app.homework.review import give_feedback
from tests.browser.conftest import new_signed_in_page
from tests.builders_homework import assign, submit
from tests.conftest import PASSWORD, make_client, make_therapist

PHONE = {"width": 375, "height": 812}


def test_a_reply_to_feedback_and_its_answer_by_keyboard_on_a_phone(base, browser, screenshots):
    therapist = make_therapist("Ruth")
    maria = make_client(therapist, "Maria")
    task = assign(therapist, maria, title="Catch a good moment")
    reflection = submit(maria, task)
    give_feedback(therapist, reflection, "Well noticed. What helped you stay?", mark_reviewed=True)

    client = new_signed_in_page(browser, base, maria, PASSWORD, viewport=PHONE)
    client.goto(f"{base}/tasks/{task.id}")
    reply = client.get_by_role("link", name="Reply to this feedback")
    reply.focus()
    client.keyboard.press("Enter")
    expect(client).to_have_url(re.compile(rf"/messages/about/{reflection.id}$"))
    expect(client.locator("#write").get_by_text("About:")).to_be_visible()
    expect(client.locator("#write .crisis")).to_be_visible()
    box = client.get_by_label("Your message")
    box.focus()
    client.keyboard.type("Breathing before I answered helped.")
    client.keyboard.press("Tab")  # to Send
    client.keyboard.press("Enter")
    expect(client.locator(".flash")).to_have_text("Sent.")
    expect(client.get_by_role("link", name="Catch a good moment")).to_be_visible()
    assert client.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(client.locator(".read-mark")).to_have_count(0)  # not read yet

    ruth = new_signed_in_page(browser, base, therapist, PASSWORD)
    ruth.goto(base + "/caseload")
    expect(ruth.get_by_role("link", name=re.compile(r"^Messages 1 conversation with new messages$"))).to_be_visible()
    ruth.get_by_role("link", name=re.compile(r"^Messages")).click()
    ruth.get_by_role("link", name=maria.name).click()
    expect(ruth.get_by_text("Breathing before I answered helped.")).to_be_visible()
    expect(ruth.get_by_role("link", name="Catch a good moment")).to_have_attribute(
        "href", f"/reflections/{reflection.id}")
    ruth.get_by_label("Your message").fill("Keep that breath. We'll look at it on Thursday.")
    ruth.get_by_role("button", name="Send").click()
    expect(ruth.locator(".flash")).to_have_text("Sent.")
    expect(ruth.locator(".read-mark")).to_have_count(0)  # her answer is not read yet

    client.reload()
    expect(client.get_by_text("Keep that breath.")).to_be_visible()
    expect(client.locator(".read-mark")).to_have_text("Read")  # Ruth has read her reply
    ruth.reload()
    expect(ruth.locator(".read-mark")).to_have_text("Read")  # and Maria Ruth's answer
    client.screenshot(path=str(screenshots / "client_messages_journey.png"), full_page=True)
