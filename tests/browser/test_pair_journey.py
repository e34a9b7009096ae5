"""The pair journey in a real browser: consent on both sides, a reveal-together exercise,
"your turn", both send (choosing to reveal together in the same step), both open the reveal."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import new_signed_in_page, sign_in
from tests.conftest import PASSWORD, make_client, make_therapist


def _write_and_send(page, text, resentment="4"):
    """Write, rate and send, choosing in the same step to reveal it together (the default)."""
    page.locator("#answer_0").fill(text)
    page.locator(f"input[name=resentment][value='{resentment}']").check()
    page.locator("input[name=closeness][value='6']").check()
    page.locator("input[name=stayed_present][value='partly']").check()
    expect(page.get_by_label(re.compile("Reveal together: .* reads it once both of you"))).to_be_checked()
    page.get_by_role("button", name=re.compile("^Send to")).click()
    expect(page.get_by_text("Sent to your therapist, and shared as you chose")).to_be_visible()


def test_link_reveal_together_waiting_then_both_see(base, page, browser, screenshots):
    therapist = make_therapist("Ruth")
    maria = make_client(therapist, "Maria")
    elena = make_client(therapist, "Elena")

    # The therapist proposes the link.
    sign_in(page, base, therapist.email, PASSWORD)
    page.get_by_role("link", name="Link a pair").click()
    page.get_by_label("First client").select_option(label=maria.name)
    page.get_by_label("Second client").select_option(label=elena.name)
    page.get_by_role("button", name="Propose the link").click()
    expect(page.get_by_text("Link proposed.")).to_be_visible()
    pair_url = page.url

    # Nothing can be assigned to the pair before both have accepted.
    expect(page.get_by_role("link", name="Assign to both")).to_have_count(0)

    # Each accepts on her own home page.
    mother = new_signed_in_page(browser, base, maria, PASSWORD, viewport={"width": 375, "height": 812})
    expect(mother.get_by_text(f"proposes linking you with {elena.name}")).to_be_visible()
    mother.get_by_role("button", name="Accept").click()
    expect(mother.get_by_text("You accepted.")).to_be_visible()
    daughter = new_signed_in_page(browser, base, elena, PASSWORD)
    daughter.get_by_role("button", name="Accept").click()
    expect(daughter.get_by_text("You accepted.")).to_be_visible()

    # The therapist gives them a reveal-together exercise.
    page.goto(pair_url)
    page.get_by_role("link", name="Assign to both").click()
    page.get_by_label("Exercise").select_option(label="Growing up, letting go")
    expect(page.get_by_label("Reveal together")).to_be_checked()  # the default for a pair
    page.get_by_role("button", name="Assign to both").click()
    expect(page.get_by_text("given to both")).to_be_visible()

    # The mother writes (in the mother's wording), sends and shares: her daughter only waits.
    mother.goto(base + "/home")
    mother.get_by_role("link", name="Growing up, letting go").click()
    expect(mother.get_by_text("What are you afraid of losing as she grows up?")).to_be_visible()
    _write_and_send(mother, "MOTHER-WORDS: I miss our Sunday calls.")
    # Her home says it is her turn, in her words; the mother's says she is waiting.
    daughter.goto(base + "/home")
    expect(daughter.locator(".badge.turn", has_text="Your turn")).to_be_visible()
    expect(daughter.get_by_text("Your mother has answered — send yours")).to_be_visible()
    daughter.screenshot(path=str(screenshots / "pair-your-turn-home-1280.png"), full_page=True)
    mother.goto(base + "/home")
    expect(mother.locator(".badge.turn", has_text="Waiting")).to_be_visible()
    mother.screenshot(path=str(screenshots / "pair-waiting-home-375.png"), full_page=True)
    daughter.goto(base + "/notifications")
    expect(daughter.get_by_role("button", name=re.compile("^Your mother has answered"))).to_be_visible()
    daughter.goto(base + "/home")
    daughter.get_by_role("link", name="Growing up, letting go").click()
    expect(daughter.get_by_text("Your turn.")).to_be_visible()
    expect(daughter.get_by_text("MOTHER-WORDS")).to_have_count(0)
    daughter.goto(base + "/shared")
    expect(daughter.get_by_text("your turn")).to_be_visible()
    expect(daughter.get_by_text("MOTHER-WORDS")).to_have_count(0)

    # The daughter sends and shares hers: now both see both, labelled with whose words they are.
    daughter.goto(base + "/home")
    daughter.get_by_role("link", name="Growing up, letting go").click()
    expect(daughter.get_by_text("What are you afraid of never getting from her")).to_be_visible()
    _write_and_send(daughter, "DAUGHTER-WORDS: I need Sundays for myself sometimes.", resentment="8")
    expect(daughter.get_by_text("MOTHER-WORDS: I miss our Sunday calls.")).to_be_visible()
    # The reveal: both answers side by side, the ratings and the gap between them.
    daughter.get_by_role("link", name=re.compile("^Open the reveal")).click()
    expect(daughter.get_by_role("heading", name=re.compile("your answers together"))).to_be_visible()
    expect(daughter.get_by_text("MOTHER-WORDS: I miss our Sunday calls.")).to_be_visible()
    expect(daughter.get_by_text("DAUGHTER-WORDS: I need Sundays for myself sometimes.")).to_be_visible()
    expect(daughter.get_by_text("seen differently")).to_be_visible()  # resentment 8 against 4
    # After the reveal: a gentle reaction to her mother's first answer, seen by both.
    daughter.get_by_role("button", name="I hear you").first.click()
    expect(daughter.get_by_text("You can change a reply for the next few minutes")).to_be_visible()
    expect(daughter.locator(".replies").get_by_text("I hear you")).to_be_visible()
    daughter.screenshot(path=str(screenshots / "pair-reveal-1280.png"), full_page=True)
    mother.goto(base + "/home")
    expect(mother.locator(".badge.turn", has_text="Revealed")).to_be_visible()
    mother.get_by_role("link", name="Growing up, letting go").click()
    expect(mother.get_by_text("DAUGHTER-WORDS: I need Sundays for myself sometimes.")).to_be_visible()
    expect(mother.get_by_text(f"{elena.name}’s words, shared with you")).to_be_visible()
    mother.get_by_role("link", name=re.compile("^Open the reveal")).click()
    expect(mother.get_by_text("DAUGHTER-WORDS: I need Sundays for myself sometimes.")).to_be_visible()
    expect(mother.locator(".replies").get_by_text("I hear you")).to_be_visible()
    mother.screenshot(path=str(screenshots / "pair-reveal-375.png"), full_page=True)

    # The therapist sees both side by side.
    page.goto(pair_url)
    expect(page.get_by_text("MOTHER-WORDS: I miss our Sunday calls.")).to_be_visible()
    expect(page.get_by_text("DAUGHTER-WORDS: I need Sundays for myself sometimes.")).to_be_visible()
    mother.context.close()
    daughter.context.close()
