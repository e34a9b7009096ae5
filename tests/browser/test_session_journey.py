"""The session journey: an agenda item the client adds shows on the therapist's prep page;
she ticks it off in the session and the client sees it as talked about. Typed text is never
lost by something the page offers (another form's button, a link)."""
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
    # One form: the shared note, the private note and the agenda ticks are saved by one Save
    page.get_by_label(f"Shared notes — {client.name} reads this").fill("We talked about the wedding and a calm answer.")
    page.get_by_label("Private clinical note — only you").fill("Calmer than last month.")
    page.get_by_label("How to answer when she mentions the wedding").check()
    page.get_by_role("button", name="Save").first.click()
    saved = "Saved: the shared notes, the private clinical note and 1 agenda item ticked off."
    expect(page.get_by_text(saved)).to_be_visible()
    expect(page.get_by_label("Private clinical note — only you")).to_have_value("Calmer than last month.")

    me.get_by_role("link", name="Sessions").click()
    expect(me.get_by_text("We talked about the wedding and a calm answer.")).to_be_visible()
    me.get_by_text("Talked about (1)").click()
    expect(me.get_by_text("How to answer when she mentions the wedding")).to_be_visible()
    me.context.close()


def test_sending_one_form_keeps_the_text_typed_in_another(base, page):
    """Issue 14, defect 3: feedback sent while a private annotation is half-typed; the
    annotation comes back, unsaved and said so, and nothing of it reached the client."""
    from tests.builders_homework import assign, submit

    therapist = make_therapist("Ruth")
    client = make_client(therapist, "Maria")
    reflection = submit(client, assign(therapist, client, due=1), answers=["What happened."])
    sign_in(page, base, therapist.email, PASSWORD)
    page.goto(f"{base}/reflections/{reflection.id}")
    page.get_by_label("Private annotation — only you").fill("HALF-TYPED ANNOTATION")
    page.get_by_label("Feedback — your client reads this").fill("Thank you for this.")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Feedback sent.")).to_be_visible()
    expect(page.get_by_label("Private annotation — only you")).to_have_value("HALF-TYPED ANNOTATION")
    expect(page.get_by_text("Your text is back here as you left it. It is not saved yet.")).to_be_visible()


def test_a_link_on_the_page_asks_before_leaving_unsent_text(base, page):
    therapist = make_therapist("Ruth")
    client = make_client(therapist, "Maria")
    from tests.builders_homework import assign, submit

    reflection = submit(client, assign(therapist, client, due=1), answers=["What happened."])
    sign_in(page, base, therapist.email, PASSWORD)
    page.goto(f"{base}/reflections/{reflection.id}")
    box = page.get_by_label("Private annotation — only you")
    box.click()
    box.press_sequentially("NOT SENT YET")
    asked = []

    def stay(dialog):
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.get_by_role("link", name="← Review queue").click(no_wait_after=True)
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    assert f"/reflections/{reflection.id}" in page.url
    expect(box).to_have_value("NOT SENT YET")
