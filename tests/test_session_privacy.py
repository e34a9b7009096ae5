"""Privacy of sessions through HTTP: the privacy matrix (who reads which note, now and in its
history), the clinical-note sentinel on every page a client can reach, and every session URL
aimed at another therapist's client answering 404 with nothing changed."""
from __future__ import annotations

import re
from urllib.parse import urldefrag, urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AgendaItem,
    ClinicalNote,
    ClinicalNoteRevision,
    SessionComment,
    SessionNote,
    SessionNoteRevision,
    TherapySession,
)
from app.therapy_sessions import services as session_services
from tests.builders_sessions import (
    clinical_note,
    linked_pair,
    member_note,
    record,
    shared_note,
    text_of,
)
from tests.conftest import login, make_client, make_therapist
from tests.world import build_world

# --- the privacy matrix --------------------------------------------------------------------------

ACTORS = ["session_client", "pair_partner", "same_therapist_client", "other_therapists_client",
          "own_therapist", "other_therapist", "anonymous"]
NOTES = ["shared_solo", "clinical_solo", "shared_pair", "clinical_pair", "member_only",
         "member_and_partner"]

# Who reads each note (and its earlier versions). The session client wrote both member notes.
CAN_READ = {
    "session_client": {"shared_solo", "shared_pair", "member_only", "member_and_partner"},
    "pair_partner": {"shared_pair", "member_and_partner"},
    "same_therapist_client": set(),
    "other_therapists_client": set(),
    "own_therapist": set(NOTES),
    "other_therapist": set(),
    "anonymous": set(),
}
# Which sessions each actor may open at all (the others answer 404; anonymous goes to login).
CAN_OPEN = {
    "session_client": {"solo", "pair"},
    "pair_partner": {"pair"},
    "own_therapist": {"solo", "pair"},
}


def sentinel(note: str, which: str) -> str:
    return f"SENTINEL-{note.upper().replace('_', '-')}-{which}-Q7"


@pytest.fixture
def matrix_world(app):
    """Ruth's client Maria: a solo session and, with her partner Elena, a pair session. Every
    note has been edited once, so each has a current text and an earlier version."""
    ruth = make_therapist("Ruth")
    maria, elena, other = make_client(ruth, "Maria"), make_client(ruth, "Elena"), make_client(ruth, "Iris")
    sam = make_therapist("Sam")
    priya = make_client(sam, "Priya")
    pair = linked_pair(ruth, maria, elena)
    solo, pair_session = record(ruth, maria), record(ruth, pair)
    shared_note(ruth, solo, sentinel("shared_solo", "OLD"), sentinel("shared_solo", "NOW"))
    clinical_note(ruth, solo, sentinel("clinical_solo", "OLD"), sentinel("clinical_solo", "NOW"))
    shared_note(ruth, pair_session, sentinel("shared_pair", "OLD"), sentinel("shared_pair", "NOW"))
    clinical_note(ruth, pair_session, sentinel("clinical_pair", "OLD"), sentinel("clinical_pair", "NOW"))
    member_note(maria, pair_session, sentinel("member_only", "OLD"), "therapist",
                (sentinel("member_only", "NOW"), "therapist"))
    member_note(maria, pair_session, sentinel("member_and_partner", "OLD"), "pair",
                (sentinel("member_and_partner", "NOW"), "pair"))
    return {
        "users": {"session_client": maria, "pair_partner": elena, "same_therapist_client": other,
                  "other_therapists_client": priya, "own_therapist": ruth, "other_therapist": sam,
                  "anonymous": None},
        "sessions": {"solo": solo.id, "pair": pair_session.id},
    }


def note_session(note: str) -> str:
    return "solo" if note.endswith("solo") else "pair"


@pytest.mark.parametrize("note", NOTES)
@pytest.mark.parametrize("actor", ACTORS)
def test_privacy_matrix(matrix_world, app, actor, note):
    browser = app.test_client()
    user = matrix_world["users"][actor]
    if user is not None:
        login(browser, user)
    which = note_session(note)
    session_id = matrix_world["sessions"][which]
    show = browser.get(f"/sessions/{session_id}")
    history = browser.get(f"/sessions/{session_id}/history")

    if actor == "anonymous":
        expected_status = 302
    else:
        expected_status = 200 if which in CAN_OPEN.get(actor, set()) else 404
    assert (show.status_code, history.status_code) == (expected_status, expected_status)
    if expected_status == 302:
        assert "/login" in show.headers["Location"] and "/login" in history.headers["Location"]

    now, old = sentinel(note, "NOW"), sentinel(note, "OLD")
    show_text, history_text = text_of(show), text_of(history)
    if note in CAN_READ[actor]:
        assert now in show_text
        assert now in history_text and old in history_text
    else:
        assert now not in show_text + history_text
        assert old not in show_text + history_text


def test_the_matrix_cells_are_what_the_issue_asks(matrix_world):
    """Guard the expectations themselves: clinical notes are the therapist's alone and the
    therapist-only member note reaches nobody but its author and the therapist."""
    for actor in ACTORS:
        if actor != "own_therapist":
            assert not {"clinical_solo", "clinical_pair"} & CAN_READ[actor]
        if actor not in ("own_therapist", "session_client"):
            assert "member_only" not in CAN_READ[actor]


def test_an_older_version_written_for_the_therapist_only_stays_hidden_from_the_partner(app):
    """Maria wrote a note for Ruth only, then rewrote it and opened it to Elena: Elena reads the
    new text, never the words Maria meant for her therapist alone (not even in the history)."""
    ruth = make_therapist("Ruth")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    pair_session = record(ruth, linked_pair(ruth, maria, elena))
    member_note(maria, pair_session, "WORDS-MEANT-FOR-RUTH-ONLY", "therapist",
                ("WORDS-FOR-BOTH-OF-US", "pair"))
    partner, author, therapist = app.test_client(), app.test_client(), app.test_client()
    login(partner, elena)
    login(author, maria)
    login(therapist, ruth)
    for url in (f"/sessions/{pair_session.id}", f"/sessions/{pair_session.id}/history"):
        page = text_of(partner.get(url))
        assert "WORDS-FOR-BOTH-OF-US" in page
        assert "WORDS-MEANT-FOR-RUTH-ONLY" not in page
    for browser in (author, therapist):
        assert "WORDS-MEANT-FOR-RUTH-ONLY" in text_of(browser.get(f"/sessions/{pair_session.id}/history"))


def test_comments_on_a_pair_session_stay_with_their_author(app):
    ruth = make_therapist("Ruth")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    pair_session = record(ruth, linked_pair(ruth, maria, elena))
    session_services.add_comment(maria, pair_session, "MARIAS-COMMENT-Q7")
    session_services.add_comment(elena, pair_session, "ELENAS-COMMENT-Q7")
    pages = {}
    for name, user in (("maria", maria), ("elena", elena), ("ruth", ruth)):
        browser = app.test_client()
        login(browser, user)
        pages[name] = text_of(browser.get(f"/sessions/{pair_session.id}"))
    assert "MARIAS-COMMENT-Q7" in pages["maria"] and "ELENAS-COMMENT-Q7" not in pages["maria"]
    assert "ELENAS-COMMENT-Q7" in pages["elena"] and "MARIAS-COMMENT-Q7" not in pages["elena"]
    assert "MARIAS-COMMENT-Q7" in pages["ruth"] and "ELENAS-COMMENT-Q7" in pages["ruth"]


# --- the clinical sentinel never reaches a client ------------------------------------------------

SENTINEL = "CLINICAL-SENTINEL"
_SKIP = ("/static/", "/logout")


def crawl(browser, start: list[str], limit: int = 250) -> dict[str, tuple[int, str]]:
    """GET every start page and every same-site link found on the pages, breadth first."""
    seen: dict[str, tuple[int, str]] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        response = browser.get(url)
        body = text_of(response)
        seen[url] = (response.status_code, body)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        for href in re.findall(r'href="([^"]+)"', body):
            href = urldefrag(href.replace("&amp;", "&"))[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not href.startswith("/") or href.startswith(_SKIP):
                continue
            if href not in seen:
                queue.append(href)
    return seen


@pytest.fixture
def sentinel_world(app):
    """build_world, with the clinical notes edited (so the sentinel also sits in an older
    version), a clinical note on the pair session too, shared notes, a member note open to the
    partner, comments, and twelve more sessions (so that /sessions has a second page)."""
    w = build_world()
    t, c, p = w["therapist"], w["client"], w["partner"]
    session_services.save_clinical_note(t, w["session"], "Rewritten; the old version keeps the sentinel.", 1)
    clinical_note(t, w["pair_session"], f"{SENTINEL} on the pair session", f"{SENTINEL} edited")
    shared_note(t, w["pair_session"], "Pair summary for both.")
    member_note(p, w["pair_session"], "Partner's note for both.", "pair")
    session_services.add_comment(c, w["session"], "My comment.")
    for _ in range(12):
        extra = record(t, c)
        clinical_note(t, extra, f"{SENTINEL} in an extra session")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClinicalNoteRevision)) == 2
    return w


def client_start_pages(w) -> list[str]:
    s, ps = w["session"].id, w["pair_session"].id
    return ["/home", "/sessions", "/sessions?page=2", f"/sessions/{s}", f"/sessions/{s}/history",
            f"/sessions/{ps}", f"/sessions/{ps}/history", "/shared", f"/pairs/{w['pair'].id}",
            f"/tasks/{w['open_task'].id}", f"/tasks/{w['submitted_task'].id}",
            f"/tasks/{w['draft_task'].id}", f"/tasks/{w['shared_reflection'].assignment_id}",
            f"/reflections/{w['reflection'].id}", f"/reflections/{w['shared_reflection'].id}",
            "/account", "/"]


def client_posts(w, user) -> list[tuple[str, dict]]:
    """Posts a client can make whose answer re-renders a session page or a conflict page."""
    s, ps = w["session"].id, w["pair_session"].id
    posts = [
        (f"/sessions/{s}/clinical-note", {"clinical-body": "x", "clinical-version": "0"}),
        (f"/sessions/{s}/shared-note", {"body": "x", "version": "0"}),
        (f"/sessions/{ps}/clinical-note", {"clinical-body": "x", "clinical-version": "1"}),
        (f"/sessions/{ps}/member-notes", {"body": " ", "visibility": "pair", "version": "0"}),
        (f"/sessions/{s}/comments", {"body": " "}),
        ("/agenda", {"body": " "}),
    ]
    own = db.session.scalars(sa.select(SessionNote).where(SessionNote.author_id == user.id)).all()
    for note in own:  # a stale edit of her own note: the conflict page
        prefix = f"note{note.id}-"
        posts.append((f"/session-notes/{note.id}", {prefix + "body": "stale", prefix + "version": "0",
                                                    prefix + "visibility": "pair"}))
    return posts


@pytest.mark.parametrize("who", ["client", "partner"])
def test_the_clinical_sentinel_reaches_no_client_on_any_page(sentinel_world, app, who):
    w = sentinel_world
    browser = app.test_client()
    login(browser, w[who])
    pages = crawl(browser, client_start_pages(w))
    assert len(pages) >= 20, sorted(pages)
    assert f"/sessions/{w['pair_session'].id}" in pages
    reached = [url for url, (status, _) in pages.items() if status == 200]
    assert "/sessions" in reached and "/home" in reached
    for url, (status, body) in pages.items():
        assert status != 500, url
        assert SENTINEL not in body, f"clinical note leaked to the {who} on {url}"
    for url, data in client_posts(w, w[who]):
        response = browser.post(url, data=data, follow_redirects=True)
        assert response.status_code != 500, url
        assert SENTINEL not in text_of(response), f"clinical note leaked to the {who} after POST {url}"


def test_the_sentinel_check_can_fail(sentinel_world, app):
    """The therapist's own pages do show it (now and in the history), so the crawl above
    would notice a leak."""
    w = sentinel_world
    browser = app.test_client()
    login(browser, w["therapist"])
    history = text_of(browser.get(f"/sessions/{w['session'].id}/history"))
    assert SENTINEL in history and "Rewritten; the old version keeps the sentinel." in history
    assert SENTINEL in text_of(browser.get(f"/sessions/{w['pair_session'].id}"))


# --- another therapist's client: 404 everywhere, nothing changed ----------------------------------

def snapshot() -> dict:
    db.session.expire_all()

    def rows(model, *cols):
        return sorted(tuple(getattr(r, c) for c in cols) for r in db.session.scalars(sa.select(model)))

    return {
        "sessions": rows(TherapySession, "id", "client_id", "pair_id", "starts_at"),
        "notes": rows(SessionNote, "id", "body", "version", "visibility"),
        "revisions": rows(SessionNoteRevision, "id", "body"),
        "clinical": rows(ClinicalNote, "id", "body", "version"),
        "clinical_revisions": rows(ClinicalNoteRevision, "id", "body"),
        "comments": rows(SessionComment, "id", "body"),
        "agenda": rows(AgendaItem, "id", "body", "done_at"),
    }


def every_session_request(w) -> list[tuple[str, str, dict]]:
    s, ps, note = w["session"].id, w["pair_session"].id, w["member_note"].id
    prefix = f"note{note}-"
    requests = []
    for sid in (s, ps):
        requests += [
            ("GET", f"/sessions/{sid}", {}),
            ("GET", f"/sessions/{sid}/history", {}),
            ("POST", f"/sessions/{sid}/shared-note", {"body": "intruder", "version": "1"}),
            ("POST", f"/sessions/{sid}/clinical-note", {"clinical-body": "intruder", "clinical-version": "1"}),
            ("POST", f"/sessions/{sid}/comments", {"body": "intruder"}),
            ("POST", f"/sessions/{sid}/member-notes", {"body": "intruder", "visibility": "pair", "version": "0"}),
        ]
    return requests + [
        ("POST", f"/session-notes/{note}", {prefix + "body": "intruder", prefix + "version": "1",
                                            prefix + "visibility": "pair"}),
        ("POST", f"/agenda/{w['agenda_item'].id}/done", {}),
        ("GET", f"/clients/{w['client'].id}/prep", {}),
        ("GET", f"/clients/{w['client'].id}/sessions/new", {}),
        ("POST", f"/clients/{w['client'].id}/sessions/new", {"day": "2024-01-01", "time": "10:00"}),
        ("GET", f"/pairs/{w['pair'].id}/sessions/new", {}),
        ("POST", f"/pairs/{w['pair'].id}/sessions/new", {"day": "2024-01-01", "time": "10:00"}),
    ]


@pytest.mark.parametrize("intruder", ["other_therapist", "other_client", "same_therapist_client"])
def test_every_session_url_of_someone_elses_client_is_404(app, intruder):
    w = build_world()
    before = snapshot()
    browser = app.test_client()
    login(browser, w[intruder])
    for method, url, data in every_session_request(w):
        response = browser.open(url, method=method, data=data)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "CLINICAL-SENTINEL" not in text_of(response)
        assert "Shared summary." not in text_of(response)
    assert snapshot() == before


def test_anonymous_visitors_are_sent_to_login_for_every_session_url(app):
    w = build_world()
    before = snapshot()
    browser = app.test_client()
    for method, url, data in every_session_request(w) + [("GET", "/sessions", {}),
                                                         ("POST", "/agenda", {"body": "x"})]:
        response = browser.open(url, method=method, data=data)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)
    assert snapshot() == before


def test_the_partner_cannot_open_the_solo_session_or_write_therapist_notes(app):
    w = build_world()
    before = snapshot()
    browser = app.test_client()
    login(browser, w["partner"])
    s, ps = w["session"].id, w["pair_session"].id
    assert browser.get(f"/sessions/{s}").status_code == 404
    assert browser.post(f"/sessions/{s}/comments", data={"body": "x"}).status_code == 404
    assert browser.post(f"/sessions/{ps}/shared-note", data={"body": "x", "version": "0"}).status_code == 403
    assert browser.post(f"/sessions/{ps}/clinical-note",
                        data={"clinical-body": "x", "clinical-version": "0"}).status_code == 403
    # Maria's therapist-only note on their pair session: not even its existence shows.
    note = w["member_note"].id
    assert browser.post(f"/session-notes/{note}", data={
        f"note{note}-body": "x", f"note{note}-version": "1", f"note{note}-visibility": "pair"}).status_code == 404
    assert "For my therapist only." not in text_of(browser.get(f"/sessions/{ps}"))
    assert snapshot() == before


def test_a_pair_note_does_not_resurface_when_the_same_two_are_linked_again(app):
    ruth = make_therapist("Ruth")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    first_pair = linked_pair(ruth, maria, elena)
    old_session = record(ruth, first_pair)
    member_note(maria, old_session, "NOTE-FROM-THE-FIRST-LINK", "pair")
    partner = app.test_client()
    login(partner, elena)
    assert partner.post(f"/pairs/{first_pair.id}/leave").status_code == 302
    assert "NOTE-FROM-THE-FIRST-LINK" not in text_of(partner.get(f"/sessions/{old_session.id}"))
    db.session.expire_all()
    linked_pair(ruth, db.session.get(type(maria), maria.id), db.session.get(type(elena), elena.id))
    page = partner.get(f"/sessions/{old_session.id}")
    assert page.status_code == 200
    assert "NOTE-FROM-THE-FIRST-LINK" not in text_of(page)


def test_no_pair_session_before_both_members_have_consented(app):
    """A pending (or declined) link is no pair: no pair session can be recorded for it."""
    from app.pairs.services import link_pair, respond

    ruth = make_therapist("Ruth")
    maria, elena = make_client(ruth, "Maria"), make_client(ruth, "Elena")
    pair = link_pair(ruth, maria, "mother", elena, "daughter")
    respond(maria, pair, accept=True)  # Elena has not answered yet
    client = app.test_client()
    login(client, ruth)
    assert client.get(f"/pairs/{pair.id}/sessions/new").status_code == 403
    response = client.post(f"/pairs/{pair.id}/sessions/new", data={"day": "2026-11-20", "time": "10:00"})
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(TherapySession.id))) == 0
