"""The session journey: scheduled ahead, prepared with the client's agenda item, held and
written up on a template; she ticks the item off and the client sees it as talked about. Typed text is never
lost by something the page offers (another form's button, a link)."""
from datetime import timedelta

from playwright.sync_api import expect

from tests.browser.conftest import new_signed_in_page, sign_in
from tests.conftest import PASSWORD, make_client, make_therapist


def test_prepare_hold_and_write_up_a_session(base, page, browser):
    """Scheduled ahead (the client sees it coming), prepared (her agenda item on the prep page),
    held (its hour passes), written up on the SOAP template with an agenda tick; she reads the
    shared notes and sees the item talked about."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import TherapySession, utcnow

    therapist = make_therapist("Ruth", timezone="Europe/London")
    client = make_client(therapist, "Maria", timezone="Europe/London")

    me = new_signed_in_page(browser, base, client, PASSWORD, viewport={"width": 375, "height": 812})
    me.get_by_role("link", name="Sessions").click()
    me.get_by_label("What I want to bring up next time").fill("How to answer when she mentions the wedding")
    me.get_by_role("button", name="Add to my list").click()
    expect(me.get_by_text("Added to your list for next time.")).to_be_visible()

    sign_in(page, base, therapist.email, PASSWORD)
    page.get_by_role("link", name=client.name).click()
    page.get_by_role("link", name="Schedule a session").click()
    tomorrow = (utcnow() + timedelta(days=1)).date()
    page.get_by_label("Date").fill(tomorrow.isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.get_by_label("Place or video link (optional)").fill("Room 2, 14 Harbour Street")
    page.get_by_role("button", name="Schedule the session").click()
    expect(page.get_by_text("Session scheduled")).to_be_visible()
    me.goto(base + "/home")
    expect(me.get_by_text("Your next session")).to_be_visible()
    expect(me.get_by_text("Room 2, 14 Harbour Street")).to_be_visible()

    # The day comes and the session is held: its hour is now an hour ago.
    session_id = db.session.scalar(sa.select(TherapySession.id))
    db.session.execute(sa.update(TherapySession).values(starts_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    page.get_by_role("link", name="Session prep").click()
    expect(page.get_by_text("How to answer when she mentions the wedding")).to_be_visible()

    page.goto(f"{base}/sessions/{session_id}")
    page.get_by_label(f"Shared notes — {client.name} reads this").fill("We talked about the wedding and a calm answer.")
    page.get_by_label("Write it on").select_option("soap")
    page.get_by_role("button", name="Use this template").click()
    page.get_by_label("Subjective").fill("Calmer than last month.")
    page.get_by_label("How to answer when she mentions the wedding").check()
    page.get_by_role("button", name="Save").first.click()
    saved = "Saved: the shared notes, the private clinical note and 1 agenda item ticked off."
    expect(page.get_by_text(saved)).to_be_visible()
    expect(page.get_by_label("Subjective")).to_have_value("Calmer than last month.")

    me.get_by_role("link", name="Sessions").click()
    expect(me.get_by_text("We talked about the wedding and a calm answer.")).to_be_visible()
    expect(me.get_by_text("Calmer than last month.")).to_have_count(0)  # the clinical note is hers alone
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
