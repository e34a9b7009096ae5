"""axe-core on every main page as each role (no serious or critical violations), pages that
fit a 375 px phone and 200 % zoom without sideways scrolling, and phone screenshots saved to
test-output/screenshots/."""
import pytest

from app.accounts.invitations import invitation_token
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.world import build_world

PAGES = {
    "anonymous": ["/login", "/reset", "/invitations/accept/{token}", "/no-such-page"],
    "client": ["/home", "/tasks/{open_task}", "/tasks/{submitted_task}", "/account",
               "/account/password", "/pairs/{pair}", "/shared", "/sessions", "/sessions/{session}",
               "/sessions/{session}/history", "/sessions/{pair_session}", "/progress", "/export",
               "/notifications", "/account/two-factor", "/messages", "/messages/pairs/{pair}",
               "/messages/about/{reflection}"],
    "partner": ["/home", "/shared", "/reflections/{shared_reflection}", "/sessions/{pair_session}",
                "/messages/pairs/{pair}"],
    "therapist": ["/caseload", "/clients/{client}", "/clients/{client}/assign", "/review",
                  "/reflections/{reflection}", "/tasks/{open_task}", "/exercises/",
                  "/exercises/{own_exercise}", "/exercises/{own_exercise}/edit", "/exercises/new",
                  "/exercises/{own_exercise}/preview", "/exercises/{own_exercise}/assign",
                  "/invitations/new", "/pairs/new", "/pairs/{pair}", "/pairs/{pair}/assign",
                  "/clients/{client}/prep", "/clients/{client}/sessions/new", "/sessions/{session}",
                  "/sessions/{session}/history", "/sessions/{pair_session}", "/notifications",
                  "/clients/{client}/export", "/messages", "/messages/clients/{client}",
                  "/messages/pairs/{pair}"],
}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900},
             "phone": {"width": 375, "height": 812},
             "zoom200": {"width": 640, "height": 450}}  # a 1280 x 900 window at 200 % zoom


@pytest.fixture
def world(app):
    w = build_world()
    from app.homework.review import give_feedback
    give_feedback(w["therapist"], w["reflection"], "Thank you, this was brave.", mark_reviewed=False)
    # A few messages, a reply to that feedback among them, so that the message pages show some.
    from app.messages.threads import thread_with_client, thread_with_pair, write_message
    write_message(w["client"], thread_with_client(w["client"]), "About the feedback: it helped.",
                  reflection_id=w["reflection"].id)
    write_message(w["therapist"], thread_with_client(w["client"]), "I am glad. " * 40)
    write_message(w["partner"], thread_with_pair(w["pair"]), "A long word: " + "x" * 120)
    w["token"] = invitation_token(w["invitation"])
    return w


def _urls(world, role):
    ids = {k: getattr(v, "id", v) for k, v in world.items()}
    return [path.format(**ids) for path in PAGES[role]]


def _shot_name(role, template):
    return role + template.replace("/", "_").replace("{", "").replace("}", "") + ".png"


def _context(browser, base, world, role, viewport):
    context = browser.new_context(viewport=viewport, bypass_csp=True)  # lets the test inject axe
    page = context.new_page()
    page.set_default_timeout(10_000)
    if role != "anonymous":
        sign_in(page, base, world[role].email, PASSWORD)
    return context, page


def _serious_violations(page, axe_source):
    page.add_script_tag(content=axe_source)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("role", sorted(PAGES))
def test_no_serious_accessibility_violations(base, browser, world, axe_source, role):
    # At desktop width; the phone and 200 % zoom layouts are checked for overflow below.
    context, page = _context(browser, base, world, role, VIEWPORTS["desktop"])
    problems = {}
    for url in _urls(world, role):
        page.goto(base + url)
        found = _serious_violations(page, axe_source)
        if found:
            problems[url] = found
    context.close()
    assert problems == {}


@pytest.mark.parametrize("viewport", ["phone", "zoom200"])
@pytest.mark.parametrize("role", sorted(PAGES))
def test_pages_fit_the_screen_without_sideways_scrolling(base, browser, world, screenshots, role, viewport):
    context, page = _context(browser, base, world, role, VIEWPORTS[viewport])
    too_wide = {}
    for template, url in zip(PAGES[role], _urls(world, role), strict=False):
        page.goto(base + url)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > VIEWPORTS[viewport]["width"]:
            too_wide[url] = width
        if viewport == "phone":
            page.screenshot(path=str(screenshots / _shot_name(role, template)), full_page=True)
    context.close()
    assert too_wide == {}


def test_headings_start_at_one_and_never_skip_a_level(base, browser, world):
    for role in sorted(PAGES):
        context, page = _context(browser, base, world, role, VIEWPORTS["desktop"])
        for url in _urls(world, role):
            page.goto(base + url)
            levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4')].map(h => +h.tagName[1])")
            assert levels and levels[0] == 1 and levels.count(1) == 1, (url, levels)
            assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), (url, levels)
        context.close()
