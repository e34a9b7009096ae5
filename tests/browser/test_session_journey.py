"""The session journey: an agenda item the client adds shows on the therapist's prep page;
she ticks it off in the session and the client sees it as talked about."""
from playwright.sync_api import expect

from tests.browser.conftest import new_signed_in_page, sign_in
from tests.conftest import PASSWORD, make_client, make_therapist


def test_agenda_item_reaches_the_prep_page_and_the_shared_notes_reach_the_client(base, page, browser):
    therapist = make_therapist("Ruth")
    client = make_client(therapist, "Maria")

    me = new_signed_in_page(browser, base, client, PASSWORD, viewport={"width": 375, "height": 812})
    me.get_by_role("link", name="Sessions").click()
    me.get_by_label("What I want to bring up next time").fill("How to answer when she mentions the wedding")
    me.get_by_role("button", name="Add to my list").click()
    expect(me.get_by_text("Added to your list for next time.")).to_be_visible()

    sign_in(page, base, therapist.email, PASSWORD)
    page.get_by_role("link", name=client.name).click()
    page.get_by_role("link", name="Session prep").click()
    expect(page.get_by_text("How to answer when she mentions the wedding")).to_be_visible()

    page.get_by_role("link", name="Record a session").click()
    page.get_by_label("Time").fill("10:00")
    page.get_by_role("button", name="Record the session").click()
    expect(page.get_by_text("Session recorded.")).to_be_visible()
    page.get_by_label("Note", exact=True).first.fill("We talked about the wedding and a calm answer.")
    page.get_by_role("button", name="Save shared notes").click()
    expect(page.get_by_text("Shared notes saved.")).to_be_visible()
    page.get_by_role("button", name="Tick off").click()

    me.get_by_role("link", name="Sessions").click()
    expect(me.get_by_text("We talked about the wedding and a calm answer.")).to_be_visible()
    me.get_by_text("Talked about (1)").click()
    expect(me.get_by_text("How to answer when she mentions the wedding")).to_be_visible()
    me.context.close()
