"""Session notes that save themselves (issue 18), in a browser: the therapist types, the page
keeps it as her draft and says so; leaving before it is kept asks first, after it does not;
switching the clinical note to SOAP keeps her words; after a reload everything is back."""
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.builders_sessions import linked_pair, member_note, record
from tests.conftest import PASSWORD, make_client, make_therapist


def test_a_note_typed_is_kept_as_a_draft_and_put_back_on_its_template(base, page):
    therapist = make_therapist("Ruth")
    client = make_client(therapist, "Maria")
    session = record(therapist, client)
    sign_in(page, base, therapist.email, PASSWORD)
    page.goto(f"{base}/sessions/{session.id}")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))

    shared = page.get_by_label(f"Shared notes — {client.name} reads this")
    shared.click()
    shared.press_sequentially("We talked about the wedding.")
    page.get_by_role("link", name="Earlier versions of the notes").click(no_wait_after=True)
    page.wait_for_timeout(300)
    assert asked == ["beforeunload"], "leaving with text the server does not have yet asks first"
    status = page.locator("[data-note-draft=shared] [data-note-status]")
    expect(status).to_contain_text("Saved as a draft at", timeout=8000)
    expect(status).to_contain_text(f"not yet shared with {client.name}")

    page.get_by_label("Private clinical note — only you").fill("Calmer than last month.")
    page.get_by_label("Write it on").select_option("soap")
    page.get_by_role("button", name="Use this template").click()
    expect(page.get_by_label("Subjective")).to_have_value("Calmer than last month.")
    expect(page.get_by_label("Subjective")).to_be_focused()
    expect(page.get_by_role("status").filter(has_text="Your words are kept")).to_contain_text("“Subjective”")
    page.get_by_label("Plan").fill("Walk together on Sunday.")
    page.get_by_label("Plan").press("Tab")  # leaving the box keeps it at once
    clinical = page.locator("[data-note-draft=clinical] [data-note-status]")
    expect(clinical).to_contain_text("Saved as a draft at", timeout=8000)

    page.reload()
    assert asked == ["beforeunload"], "everything was kept: the reload asked nothing"
    expect(shared).to_have_value("We talked about the wedding.")
    expect(page.get_by_label("Subjective")).to_have_value("Calmer than last month.")
    expect(page.get_by_label("Plan")).to_have_value("Walk together on Sunday.")
    expect(page.locator("[data-note-draft=shared] .badge.draft")).to_be_visible()

    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_text("Saved: the shared notes and the private clinical note.")).to_be_visible()
    expect(page.locator(".badge.draft")).to_have_count(0)


def test_a_members_edit_of_her_note_is_kept_as_her_draft_of_that_note(base, page):
    therapist = make_therapist("Ruth")
    maria, elena = make_client(therapist, "Maria"), make_client(therapist, "Elena")
    session = record(therapist, linked_pair(therapist, maria, elena))
    note = member_note(maria, session, "First words.", "therapist")
    sign_in(page, base, maria.email, PASSWORD)
    page.goto(f"{base}/sessions/{session.id}")
    page.get_by_text("Edit my note or who may read it").click()
    edit = page.locator(f"#note{note.id}-body")
    edit.fill("First words, and more.")
    page.locator(f"input[name='note{note.id}-visibility'][value=pair]").check()
    edit.press("Tab")
    status = page.locator(f"[data-note-id='{note.id}'] [data-note-status]")
    expect(status).to_contain_text("Saved as a draft at", timeout=8000)
    page.reload()
    expect(edit).to_have_value("First words, and more.")  # its box, open; the new note's box is empty
    expect(page.locator(f"input[name='note{note.id}-visibility'][value=pair]")).to_be_checked()
    expect(page.get_by_label("A new note of yours")).to_have_value("")
