"""Issue 24, "local copies that do not linger": the copy of a reflection this browser keeps while
the server has not acknowledged it is sealed (AES-GCM, a non-extractable WebCrypto key kept in
IndexedDB), never plaintext on disk, even when the browser is killed before the server has the
text; it still comes back after the crash; it is gone once the server acknowledges the text (an
autosave or the form's own post); signing out destroys the key and the copies. The same holds
for the other forms' unsent text that keep-unsent.js keeps for the tab."""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.clock import today_for
from app.extensions import db
from app.homework.tasks import assign_exercise
from app.models import Exercise, Reflection
from tests.browser.conftest import CHROMIUM_ARGS, _missing, chromium_path, new_signed_in_page, sign_in
from tests.conftest import PASSWORD, make_client, make_therapist

PROMPT = "What happened? Where were you, and what made the moment good?"
SECRET = "Quokka-Marmalade-4127 told the lighthouse keeper"
# Pieces of it: a copy of any prefix typed so far would hold the first one.
PIECES = ["Quokka-Marm", "Marmalade-4127", "lighthouse keeper"]
CONTROL = "Plaintext-Control-Wombat-9931"  # written in plaintext on purpose: proves the disk is read
COPIES = "() => Object.keys(localStorage).filter(k => k.startsWith('cg-draft-'))"
# A function, not an expression: the page's CSP forbids eval.
NO_COPIES = "() => !Object.keys(localStorage).some(k => k.startsWith('cg-draft-'))"
DATABASES = "async () => (await indexedDB.databases()).map(d => d.name)"


def _task(client, therapist):
    exercise = db.session.scalar(sa.select(Exercise).where(Exercise.family == "stay_present"))
    return assign_exercise(therapist, client, exercise, due_date=today_for(client) + timedelta(days=1),
                           today=today_for(client))[0]


def _client_with_a_task():
    """A client of a new therapist, with one open task; and the name of its local copy."""
    therapist = make_therapist()
    client = make_client(therapist)
    task = _task(client, therapist)
    return client, task, f"cg-draft-{client.id}-{task.id}"


def _therapist_reading_a_reflection(browser, base: str):
    """Ruth on Maria's sent reflection, where feedback and a private annotation are written."""
    from tests.builders_homework import assign, submit

    therapist = make_therapist("Ruth")
    client = make_client(therapist, "Maria")
    reflection = submit(client, assign(therapist, client, due=1), answers=["What happened."])
    page = new_signed_in_page(browser, base, therapist, PASSWORD)
    page.goto(f"{base}/reflections/{reflection.id}")
    return page


def _saved_answer(task_id: int) -> str | None:
    db.session.expire_all()
    reflection = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task_id))
    return reflection.answers[0] if reflection else None


def _open_copy(page, key: str):
    """The page's own sealed copy, opened with the page's own key (null if none)."""
    return page.evaluate(
        """async key => { const box = JSON.parse(localStorage.getItem(key) || "null");
                          return box ? await window.cgLocalCopy.open(key, box) : null; }""", key)


def _found_on_disk(profile: Path, texts: list[str]) -> dict[str, list[str]]:
    """Every file of the profile, read as bytes: which texts (UTF-8/Latin-1 or UTF-16) are in which."""
    wanted = {text: [text.encode("utf-8"), text.encode("utf-16-le")] for text in texts}
    found: dict[str, list[str]] = {}
    for path in profile.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for text, forms in wanted.items():
            if any(form in data for form in forms):
                found.setdefault(text, []).append(str(path.relative_to(profile)))
    return found


def _browser_processes(profile: Path) -> list[int]:
    flag = f"--user-data-dir={profile}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if flag in (entry / "cmdline").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _kill_hard(profile: Path) -> None:
    """SIGKILL the Chromium started on this profile (no clean shutdown, nothing flushed)."""
    pids = _browser_processes(profile)
    assert pids, "the Chromium of this profile was not found"
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _browser_processes(profile) and time.monotonic() < deadline:
        time.sleep(0.1)


def _kill_when_on_disk_then_search(page, profile: Path, pieces: list[str]) -> None:
    """Write a plaintext control into localStorage and sessionStorage after everything else; once
    both are on disk, so is all that came before (and the search demonstrably finds plaintext when
    there is some). Then kill the browser hard and search every file of the profile for `pieces`."""
    page.evaluate("""text => { localStorage.setItem('cg-test-control', text + '-local');
                               sessionStorage.setItem('cg-test-control', text + '-session'); }""", CONTROL)
    controls = [CONTROL + "-local", CONTROL + "-session"]
    deadline = time.monotonic() + 40
    while len(_found_on_disk(profile, controls)) < len(controls):
        assert time.monotonic() < deadline, "storage never reached the disk: the test would prove nothing"
        time.sleep(0.5)
    _kill_hard(profile)
    found = _found_on_disk(profile, pieces + controls)
    assert all(control in found for control in controls)
    leaks = {piece: files for piece, files in found.items() if piece not in controls}
    assert not leaks, f"the text is on disk in plaintext: {leaks}"


@pytest.fixture
def launch(app, live_server, playwright):
    """Start Chromium on a profile directory of our own (storage really reaches the disk)."""
    executable = chromium_path()
    if executable is None:
        _missing("no Chromium found (install Debian's 'chromium' package)")
    contexts = []

    def start(profile: Path):
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/London")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield start
    for context in contexts:
        try:
            context.close()
        except Exception:  # killed on purpose: already gone
            pass


def _signed_in_task_page(context, base: str, client, task_id: int):
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/tasks/{task_id}")
    if "/login" in page.url:
        sign_in(page, base, client.email, PASSWORD)
        page.goto(f"{base}/tasks/{task_id}")
    return page


def test_a_killed_browser_leaves_no_plaintext_and_the_copy_still_comes_back(launch, live_server, tmp_path):
    base = live_server
    client, task, key = _client_with_a_task()
    profile = tmp_path / "profile"

    # (a) The server never gets the text (every autosave fails as if it were unreachable).
    context = launch(profile)
    page = _signed_in_task_page(context, base, client, task.id)
    page.route("**/tasks/*/draft", lambda route: route.abort())
    area = page.get_by_label(PROMPT)
    area.click()
    area.press_sequentially(SECRET)
    # A copy is kept, sealed: not the text itself, but it opens to the text with the page's key.
    page.wait_for_function("key => localStorage.getItem(key) !== null", arg=key)
    stored = page.evaluate("key => localStorage.getItem(key)", key)
    assert not any(piece in stored for piece in PIECES)
    assert set(json.loads(stored)) >= {"iv", "ct"}
    deadline = time.monotonic() + 10
    while (_open_copy(page, key) or {}).get("data", {}).get("answer_0") != SECRET:
        assert time.monotonic() < deadline, "the sealed copy never caught up with the typing"
        time.sleep(0.1)
    assert "cg-local-copy" in page.evaluate(DATABASES)
    assert _saved_answer(task.id) != SECRET

    _kill_when_on_disk_then_search(page, profile, PIECES)

    # The copy survived the crash: back in the browser, signed in again, it comes back and is
    # saved; (b) once the server has acknowledged it, no copy is left.
    context = launch(profile)
    page = _signed_in_task_page(context, base, client, task.id)
    expect(page.get_by_label(PROMPT)).to_have_value(SECRET)
    expect(page.locator("[data-save-status]")).to_contain_text("Draft saved at")
    assert _saved_answer(task.id) == SECRET
    page.wait_for_function(NO_COPIES)

    # Typing again makes a copy, and the acknowledged autosave removes it.
    area = page.get_by_label(PROMPT)
    area.press("End")
    area.press_sequentially(" again")
    page.wait_for_function("key => localStorage.getItem(key) !== null", arg=key)
    area.blur()
    page.wait_for_function(NO_COPIES)
    assert _saved_answer(task.id) == SECRET + " again"
    assert page.evaluate(COPIES) == []


@pytest.mark.parametrize(("button", "answer"), [("Save draft", "Draft saved."),
                                                ("Send to", "Sent to your therapist")])
def test_the_forms_own_post_removes_the_copy(app, live_server, browser, button, answer):
    base = live_server
    client, task, key = _client_with_a_task()
    page = new_signed_in_page(browser, base, client, PASSWORD)
    page.route("**/tasks/*/draft", lambda route: route.abort())  # only the form's own post gets through
    page.goto(f"{base}/tasks/{task.id}")
    page.get_by_label(PROMPT).fill(SECRET)
    for name, value in (("resentment", "2"), ("closeness", "8"), ("stayed_present", "yes")):
        page.locator(f"input[name={name}][value='{value}']").check()
    page.wait_for_function("key => localStorage.getItem(key) !== null", arg=key)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_text(answer)).to_be_visible()
    page.wait_for_function(NO_COPIES)  # once the page's scripts have run
    assert _saved_answer(task.id) == SECRET
    page.context.close()


def test_signing_out_destroys_the_key_and_the_copies(app, live_server, browser):
    base = live_server
    client, task, key = _client_with_a_task()
    page = new_signed_in_page(browser, base, client, PASSWORD)
    page.route("**/tasks/*/draft", lambda route: route.abort())
    page.goto(f"{base}/tasks/{task.id}")
    page.get_by_label(PROMPT).fill(SECRET)
    page.wait_for_function("key => localStorage.getItem(key) !== null", arg=key)
    assert "cg-local-copy" in page.evaluate(DATABASES)
    # A second tab holds the key's database open: it lets go when the first one signs out.
    other = page.context.new_page()
    other.goto(f"{base}/tasks/{task.id}")
    other.wait_for_function("async () => (await indexedDB.databases()).length > 0")

    # The server's Clear-Site-Data header would clear storage too: take it away, so that what is
    # tested is the page's own sign-out hook.
    def without_clear_site_data(route):
        response = route.fetch(max_redirects=0)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "clear-site-data"}
        route.fulfill(response=response, headers=headers)

    page.route("**/logout", without_clear_site_data)
    page.on("dialog", lambda dialog: dialog.accept())  # "leave with unsaved changes?": yes
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert page.evaluate(COPIES) == []
    assert "cg-local-copy" not in page.evaluate(DATABASES)
    page.context.close()


def test_signing_out_never_waits_on_destroying_the_key(app, live_server, browser):
    base = live_server
    client = make_client(make_therapist())
    page = new_signed_in_page(browser, base, client, PASSWORD)
    # An IndexedDB that never answers: the sign-out still goes through, and the copies are gone.
    page.evaluate("""() => {
        localStorage.setItem('cg-draft-0-0', '{"v":2,"at":1,"iv":"AA==","ct":"AA=="}');
        indexedDB.deleteDatabase = () => ({});
    }""")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login", timeout=5_000)
    assert page.evaluate(COPIES) == []
    page.goto(f"{base}/home")
    assert "/login" in page.url  # signed out on the server
    page.context.close()


def test_text_kept_while_another_form_is_sent_is_sealed(app, live_server, browser):
    """keep-unsent.js keeps another box's unsent text across the send for this tab: sealed too."""
    base = live_server
    page = _therapist_reading_a_reflection(browser, base)
    # What this tab holds as the page is left: copied aside (localStorage) to look at afterwards.
    page.evaluate("""() => window.addEventListener('pagehide', () => {
        localStorage.setItem('cg-test-probe', sessionStorage.getItem('unsent:' + location.pathname) || 'none');
    })""")
    page.get_by_label("Private annotation — only you").fill(SECRET)
    page.get_by_label("Feedback — your client reads this").fill("Thank you for this.")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Feedback sent.")).to_be_visible()
    expect(page.get_by_label("Private annotation — only you")).to_have_value(SECRET)
    expect(page.get_by_text("Your text is back here as you left it. It is not saved yet.")).to_be_visible()
    probe = page.evaluate("() => localStorage.getItem('cg-test-probe')")
    assert probe and probe != "none"
    assert not any(piece in probe for piece in PIECES)
    assert json.loads(probe)["v"] == 2
    # Put back, it is no longer kept: the tab holds nothing of it.
    assert page.evaluate("() => sessionStorage.getItem('unsent:' + location.pathname)") is None
    page.context.close()


def test_text_kept_for_the_tab_is_not_on_disk_in_plaintext(launch, live_server, tmp_path):
    """The same with keep-unsent.js: a half-typed annotation kept across a send, then typed on,
    and the browser killed."""
    from tests.builders_homework import assign, submit

    base = live_server
    therapist = make_therapist("Ruth")
    client = make_client(therapist, "Maria")
    reflection = submit(client, assign(therapist, client, due=1), answers=["What happened."])
    profile = tmp_path / "profile"
    context = launch(profile)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, base, therapist.email, PASSWORD)
    page.goto(f"{base}/reflections/{reflection.id}")
    box = page.get_by_label("Private annotation — only you")
    box.click()
    box.press_sequentially(SECRET)
    page.get_by_label("Feedback — your client reads this").fill("Thank you for this.")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Feedback sent.")).to_be_visible()
    expect(box).to_have_value(SECRET)
    box.press("End")
    box.press_sequentially(" and more")
    _kill_when_on_disk_then_search(page, profile, PIECES)


def test_without_webcrypto_or_indexeddb_no_copy_is_kept_and_autosave_still_works(app, live_server, browser):
    base = live_server
    therapist = make_therapist()
    client = make_client(therapist)
    task = _task(client, therapist)
    page = new_signed_in_page(browser, base, client, PASSWORD)
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    # A plaintext copy left by the earlier draft.js, for another task: it cannot be sealed here.
    page.evaluate("""id => localStorage.setItem('cg-draft-' + id + '-999',
                      JSON.stringify({at: Date.now(), data: {answer_0: 'old plaintext'}}))""", client.id)
    page.context.add_init_script("Object.defineProperty(window, 'indexedDB', {value: undefined, configurable: true})")
    page.route("**/tasks/*/draft", lambda route: route.abort())
    page.goto(f"{base}/tasks/{task.id}")
    assert page.evaluate("() => window.cgLocalCopy.supported") is False
    area = page.get_by_label(PROMPT)
    area.fill(SECRET)
    page.wait_for_timeout(500)
    assert page.evaluate(COPIES) == []  # nothing at all rather than plaintext
    page.unroute("**/tasks/*/draft")
    area.blur()
    expect(page.locator("[data-save-status]")).to_contain_text("Draft saved at", timeout=20_000)
    assert _saved_answer(task.id) == SECRET
    assert errors == []
    page.context.close()


def test_a_plaintext_copy_from_before_comes_back_once_and_is_sealed(app, live_server, browser):
    base = live_server
    client, task, key = _client_with_a_task()
    elsewhere = f"cg-draft-{client.id}-999"
    page = new_signed_in_page(browser, base, client, PASSWORD)
    page.evaluate("""([key, elsewhere, text]) => {
        localStorage.setItem(key, JSON.stringify({at: Date.now(), data: {answer_0: text}}));
        localStorage.setItem(elsewhere, JSON.stringify({at: Date.now(), data: {answer_0: text}}));
    }""", [key, elsewhere, SECRET])
    page.route("**/tasks/*/draft", lambda route: route.abort())  # so that it stays unacknowledged
    page.goto(f"{base}/tasks/{task.id}")
    expect(page.get_by_label(PROMPT)).to_have_value(SECRET)
    sealed = """keys => keys.every(k => { const v = localStorage.getItem(k);
                                          return v && JSON.parse(v).v === 2; })"""
    page.wait_for_function(sealed, arg=[key, elsewhere])
    for name in (key, elsewhere):
        stored = page.evaluate("k => localStorage.getItem(k)", name)
        assert not any(piece in stored for piece in PIECES)
        assert (_open_copy(page, name) or {}).get("data", {}).get("answer_0") == SECRET
    page.context.close()


def test_a_send_waits_a_moment_for_the_kept_text_to_be_sealed(app, live_server, browser):
    """Sent before the other box's sealed copy is ready (WebCrypto made slow here): the send
    waits for it, then goes, and the text comes back."""
    base = live_server
    page = _therapist_reading_a_reflection(browser, base)
    page.get_by_label("Feedback — your client reads this").fill("Thank you for this.")
    page.evaluate("""() => { const encrypt = crypto.subtle.encrypt.bind(crypto.subtle);
        crypto.subtle.encrypt = (...args) => new Promise(r => setTimeout(r, 700)).then(() => encrypt(...args)); }""")
    page.get_by_label("Private annotation — only you").fill(SECRET)
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Feedback sent.")).to_be_visible()
    expect(page.get_by_label("Private annotation — only you")).to_have_value(SECRET)
    assert asked == []
    page.context.close()
