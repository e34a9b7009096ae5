"""Every page the demo accounts reach is valid HTML: the Nu HTML checker (vnu-jar) reports no
error on any of them.

The demo world is seeded and each demo account signs in through the real forms, with CSRF on as
in production (so the hidden tokens are in the pages). From home, every same-origin page reachable
by a GET link is crawled; to those are added the anonymous pages, the error pages and pages shown
again after a form error. All bodies are written to files and checked by ONE run of the checker
(one JVM for every page keeps it fast).

Without Java or the jar (`npm ci` installs it) this skips with the reason; CG_REQUIRE_BROWSER=1
(CI) turns that skip into a failure."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import sqlalchemy as sa

from app import policy
from app.accounts.invitations import invitation_token, invite_client
from app.accounts.services import make_reset_token
from app.extensions import db
from app.models import Assignment, Pair, Reflection, SessionNote, User
from app.ops.demo import DEMO_PASSWORD, DEMO_PEOPLE, seed_demo
from tests.conftest import csrf_token_from, fresh_totp_code
from tests.test_faults import database_refuses

ROOT = Path(__file__).resolve().parents[1]
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
MAX_PAGES_PER_ACCOUNT = 250  # the demo world has far fewer; a runaway crawl fails instead
MAX_QUERY_VARIANTS = 6  # per path: the same page with other filters adds little
NOT_HTML_SUFFIXES = (".json", ".ics", ".csv", ".pdf", ".txt")
SKIPPED_PREFIXES = ("/static/", "/logout")


@dataclass
class Page:
    label: str  # who saw it, and how: "maria.lopez@example.com GET /home"
    status: int
    html: str


def _required() -> bool:
    return os.environ.get("CG_REQUIRE_BROWSER") == "1"


def _missing(reason: str):
    if _required():
        pytest.fail(f"{reason} (CG_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


def _local(base: str, href: str) -> str | None:
    """The path and query of a same-origin link worth crawling, or None."""
    parts = urlsplit(urljoin("http://localhost" + base, href))
    if parts.scheme not in ("http", "https") or parts.hostname != "localhost":
        return None
    path = parts.path or "/"
    if path.startswith(SKIPPED_PREFIXES) or path.endswith(NOT_HTML_SUFFIXES):
        return None
    for name, value in parse_qsl(parts.query):
        if name == "page" and (not value.isdigit() or int(value) > 2):
            return None  # paging: pages 1 and 2 show every shape a list page has
    return path + (f"?{parts.query}" if parts.query else "")


def _crawl(client, label: str, pages: list[Page], broken: list[str]) -> None:
    """Every page reachable by GET links from home, once each."""
    queue, seen, variants = deque(["/"]), set(), {}
    count = 0
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        path = url.split("?")[0]
        if "?" in url:
            variants[path] = variants.get(path, 0) + 1
            if variants[path] > MAX_QUERY_VARIANTS:
                continue
        response = client.get(url)
        if 300 <= response.status_code < 400:
            target = _local(url, response.location)
            if target:
                queue.append(target)
            continue
        if response.status_code >= 500:
            broken.append(f"{label} GET {url} answered {response.status_code}")
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        pages.append(Page(f"{label} GET {url}", response.status_code, html))
        count += 1
        assert count <= MAX_PAGES_PER_ACCOUNT, f"the crawl for {label} did not end ({url})"
        for href in _links(html):
            target = _local(url, href)
            if target and target not in seen:
                queue.append(target)


def _keep(pages: list[Page], label: str, response, status: int | None = None) -> None:
    """Keep a page to check (a redirect's stub body is not one); `status`, when given, is the
    one the page must answer, so that the state it shows was really reached."""
    if status is not None:
        assert response.status_code == status, f"{label} answered {response.status_code}, not {status}"
    if response.mimetype == "text/html" and not 300 <= response.status_code < 400:
        pages.append(Page(label, response.status_code, response.get_data(as_text=True)))


def _post_form(client, label: str, pages: list[Page], url: str, data: dict) -> None:
    """Fetch a form, send it back with `data` (a form error), keep the page shown again."""
    page = client.get(url)
    assert page.status_code == 200, f"{label} GET {url} answered {page.status_code}"
    response = client.post(url, data={"csrf_token": csrf_token_from(page.get_data(as_text=True)),
                                      **data})
    assert not 300 <= response.status_code < 400, f"{label} POST {url}: expected a form error, got a redirect"
    _keep(pages, f"{label} POST {url} (form error)", response)


def _sign_in(client, user: User, pages: list[Page]) -> None:
    """Through the real forms; the two-factor page (with one wrong code first) is kept."""
    login_page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": user.email, "password": DEMO_PASSWORD,
                                           "csrf_token": csrf_token_from(login_page)})
    assert response.status_code == 302, f"sign-in failed for {user.email}"
    if response.location.endswith("/login/verify"):
        verify = client.get("/login/verify")
        _keep(pages, f"{user.email} GET /login/verify", verify)
        token = csrf_token_from(verify.get_data(as_text=True))
        wrong = client.post("/login/verify", data={"code": "000000", "csrf_token": token})
        _keep(pages, f"{user.email} POST /login/verify (wrong code)", wrong)
        response = client.post("/login/verify", data={"code": fresh_totp_code(user),
                                                      "csrf_token": token})
        assert response.status_code == 302, f"two-factor step failed for {user.email}"


def _anonymous_pages(app, pages: list[Page]) -> None:
    client = app.test_client()
    label = "anonymous"
    for url in ("/login", "/reset", "/reset/not-a-token", "/invitations/accept/not-a-token",
                "/no-such-page"):
        _keep(pages, f"{label} GET {url}", client.get(url))
    _post_form(client, label, pages, "/login", {"email": "nobody@example.com", "password": "wrong"})
    _post_form(client, label, pages, "/reset", {"email": ""})
    token = csrf_token_from(client.get("/reset").get_data(as_text=True))
    client.post("/reset", data={"email": "nobody@example.com", "csrf_token": token})
    _keep(pages, f"{label} GET /login (with a message)", client.get("/login"))

    ruth = db.session.scalar(sa.select(User).where(User.email == "ruth.alder@example.com"))
    reset_url = f"/reset/{make_reset_token(ruth)}"
    _post_form(client, label, pages, reset_url, {"password": "short", "confirm": "different"})
    with app.test_request_context():
        invitation = invite_client(ruth, "new.person@example.com")
        accept_url = f"/invitations/accept/{invitation_token(invitation)}"
    _post_form(client, label, pages, accept_url, {})


def _form_errors(client, user: User, pages: list[Page]) -> None:
    """A few forms sent back with mistakes, so the pages that show errors are checked too."""
    label = user.email
    _post_form(client, label, pages, "/account/password",
               {"current_password": "wrong", "new_password": "x", "confirm": "y"})
    if user.role == "therapist":
        client_ids = db.session.scalars(sa.select(User.id).where(User.therapist_id == user.id)
                                        .order_by(User.id)).all()
        pair_id = db.session.scalar(sa.select(Pair.id).where(Pair.therapist_id == user.id)
                                    .order_by(Pair.id).limit(1))
        _post_form(client, label, pages, "/invitations/new", {"email": ""})
        _post_form(client, label, pages, "/exercises/new", {})
        _post_form(client, label, pages, f"/clients/{client_ids[0]}/assign", {})
        _post_form(client, label, pages, f"/clients/{client_ids[0]}/sessions/new", {})
        _post_form(client, label, pages, "/pairs/new", {})
        if pair_id is not None:
            _post_form(client, label, pages, f"/pairs/{pair_id}/assign", {})
            _post_form(client, label, pages, f"/pairs/{pair_id}/sessions/new", {})
            _post_form(client, label, pages, f"/messages/pairs/{pair_id}", {"body": ""})
        _post_form(client, label, pages, f"/messages/clients/{client_ids[0]}", {"body": " "})
        _keep(pages, f"{label} GET /home (wrong role)", client.get("/home"))
    else:
        task_id = db.session.scalar(sa.select(Assignment.id).where(
            Assignment.client_id == user.id, Assignment.status == "open").order_by(Assignment.id).limit(1))
        if task_id is not None:
            _post_form(client, label, pages, f"/tasks/{task_id}", {"resentment": "99", "action": "save"})
        _post_form(client, label, pages, f"/messages/clients/{user.id}", {"body": ""})
        _keep(pages, f"{label} GET /caseload (wrong role)", client.get("/caseload"))
    _keep(pages, f"{label} GET /reflections/999999 (not found)", client.get("/reflections/999999"))


def _widen_the_demo(app) -> None:
    """States the demo does not show by itself: a cancelled task, and a task and a reflection
    that the therapist deleted (Priya's, so that every other account sees the demo as it is)."""
    from app.homework.deletion import delete_reflection, delete_task
    from app.homework.tasks import cancel_assignment

    sam = db.session.scalar(sa.select(User).where(User.email == "sam.okafor@example.com"))
    priya = db.session.scalar(sa.select(User).where(User.email == "priya.nair@example.com"))
    tasks = db.session.scalars(sa.select(Assignment).where(Assignment.client_id == priya.id)
                               .order_by(Assignment.id)).all()
    open_tasks = [t for t in tasks if t.status == "open" and t.reflection is None]
    sent = [t.reflection for t in tasks if t.reflection is not None and t.reflection.submitted_at]
    with app.test_request_context():
        cancel_assignment(sam, open_tasks[0])
        delete_task(sam, open_tasks[1])
        delete_reflection(sam, sent[0])


def _rarer_states(app, clients: dict, pages: list[Page]) -> None:
    """Pages no GET link leads to: a partner reading a shared reflection, a note changed in the
    meantime, new recovery codes, and the pages shown when the database cannot be reached."""
    by_email = {e: db.session.scalar(sa.select(User).where(User.email == e)) for e in clients}
    for person in DEMO_PEOPLE:
        if person.label != "daughter":
            continue
        readable = [r.id for r in db.session.scalars(sa.select(Reflection).join(Assignment).where(
            Assignment.client_id == by_email[person.partner].id).order_by(Reflection.id))
            if policy.partner_can_read(by_email[person.email], r)]
        assert readable, f"the demo has no reflection shared with {person.email}"
        for reflection_id in readable:
            _keep(pages, f"{person.email} GET /reflections/{reflection_id} (shared by her partner)",
                  clients[person.email].get(f"/reflections/{reflection_id}"), 200)

        mother = by_email[person.partner]
        note = db.session.scalar(sa.select(SessionNote).where(
            SessionNote.author_id == mother.id, SessionNote.kind == "member").limit(1))
        browser = clients[mother.email]
        page = browser.get(f"/sessions/{note.session_id}").get_data(as_text=True)
        prefix = f"note{note.id}-"
        response = browser.post(f"/session-notes/{note.id}", data={
            prefix + "csrf_token": csrf_token_from(page.replace(f'name="{prefix}csrf_token"',
                                                                 'name="csrf_token"')),
            prefix + "body": "Changed meanwhile.", prefix + "version": str(note.version - 1),
            prefix + "visibility": note.visibility})
        _keep(pages, f"{mother.email} POST /session-notes/{note.id} (changed meanwhile)", response, 409)

    ruth = clients["ruth.alder@example.com"]
    token = csrf_token_from(ruth.get("/account/two-factor").get_data(as_text=True))
    _keep(pages, "ruth.alder@example.com POST /account/two-factor/recovery-codes",
          ruth.post("/account/two-factor/recovery-codes",
                    data={"password": DEMO_PASSWORD, "csrf_token": token}), 200)

    maria = clients["maria.lopez@example.com"]
    with database_refuses(r"FROM login_sessions"):
        _keep(pages, "maria.lopez@example.com GET /home (database unreachable)", maria.get("/home"), 503)
    task_id = db.session.scalar(sa.select(Assignment.id).where(
        Assignment.client_id == by_email["maria.lopez@example.com"].id, Assignment.status == "open",
        Assignment.pair_exercise_id.is_(None)).order_by(Assignment.id).limit(1))
    token = csrf_token_from(maria.get(f"/tasks/{task_id}").get_data(as_text=True))
    with database_refuses(r"^\s*(UPDATE|INSERT INTO) reflections"):
        response = maria.post(f"/tasks/{task_id}", data={"answer_0": "Kept for her.", "action": "save",
                                                         "csrf_token": token})
    _keep(pages, f"maria.lopez@example.com POST /tasks/{task_id} (database unreachable)", response, 503)
    # Her draft saved on another device since this page was opened: both versions, and the choice.
    maria.post(f"/tasks/{task_id}/draft", data={"answer_0": "Saved on her phone.", "csrf_token": token})
    response = maria.post(f"/tasks/{task_id}", data={"answer_0": "Written on her laptop.", "action": "save",
                                                     "draft_version": "", "csrf_token": token})
    _keep(pages, f"maria.lopez@example.com POST /tasks/{task_id} (changed elsewhere)", response, 409)


def _check(pages: list[Page], folder: Path) -> list[dict]:
    """Run the checker once over every page; its error messages, each with its page."""
    files = {}
    for n, page in enumerate(pages):
        path = folder / f"page-{n:04d}.html"
        path.write_text(page.html, encoding="utf-8")
        files[path.name] = page
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "json",
         *[str(folder / name) for name in files]],
        capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(result.stderr or result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"the checker gave no JSON (exit {result.returncode}):\n{result.stderr[-2000:]}")
    errors = []
    for message in report.get("messages", []):
        if message.get("type") not in ("error", "non-document-error"):
            continue
        page = files.get(Path(urlsplit(message.get("url", "")).path).name)
        errors.append({"page": f"{page.label} [{page.status}]" if page else message.get("url"),
                       "line": message.get("lastLine"), "message": message.get("message"),
                       "extract": (message.get("extract") or "").strip()})
    return errors


def test_every_page_the_demo_accounts_reach_is_valid_html(csrf_app, tmp_path):
    if shutil.which("java") is None:
        _missing("no Java found (install Debian's 'default-jre-headless') for the Nu HTML checker")
    if not VNU_JAR.exists():
        _missing("vnu-jar is not installed (run `npm ci` at the top of the repository)")
    app = csrf_app
    seed_demo()
    pages: list[Page] = []
    broken: list[str] = []
    _widen_the_demo(app)
    _anonymous_pages(app, pages)
    clients = {}
    for person in DEMO_PEOPLE:
        user = db.session.scalar(sa.select(User).where(User.email == person.email))
        clients[person.email] = client = app.test_client()
        _sign_in(client, user, pages)
        _crawl(client, person.email, pages, broken)
        _form_errors(client, user, pages)
    _rarer_states(app, clients, pages)

    assert not broken, "pages that failed:\n" + "\n".join(broken)
    # The crawl really reached each account's pages (a crawl stuck at the sign-in page would
    # check nothing and pass).
    for person in DEMO_PEOPLE:
        assert sum(p.label.startswith(person.email + " GET") for p in pages) >= 8, person.email
    errors = _check(pages, tmp_path)
    report = "\n".join(f"- {e['page']} (line {e['line']}): {e['message']}\n    {e['extract']}"
                       for e in errors)
    assert not errors, f"{len(errors)} HTML error(s) over {len(pages)} pages:\n{report}"
