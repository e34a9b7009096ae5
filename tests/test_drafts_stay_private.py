"""Privacy rule 6: "A draft is its author's alone, everywhere: pages, exports, counts,
notifications, emails" (issue 14).

One practice is built once for the module: therapist Ruth with Iris (on her own) and a linked
mother and daughter, Maria and Dora (both accepted); therapist Sam with Priya. It holds sent
reflections (some shared with the partner, on pair exercises revealed together and not),
feedback, an addendum, a private annotation, sessions with shared, clinical and member notes,
comments, agenda items, an invitation and notifications (with emails, through the real SMTP
server of the conftest). Then each client saves drafts through the app's own routes (the
autosave route and the form's "Save draft" button), a unique marker in every answer field:
a new draft beside a sent reflection, drafts on pair exercises whose partner has sent and shared
(revealed together and not), a draft on a task her therapist then cancelled, and one on a task
her therapist then deleted. Session notes keep drafts too (issue 18), through their autosave:
Ruth's shared and clinical (SOAP) notes before any sweep, Maria's and Dora's own notes on the
pair's session in the stages below. Addenda, session comments and agenda items are saved at
once, never as drafts.

Every account (both therapists, every client, anonymous, and a browser halfway through signing
in) GETs every rule of app.url_map that accepts GET, each URL variable filled with every real id
of its kind (and the query variants that change what a page shows: both exports with and without
the private notes, the dashboard's sorts and filter, ...), in five sweeps: two before Maria's,
Dora's, Priya's and Iris's new drafts (the first one's reads change some pages once: feedback
seen), a third to prove the pages repeat, one after Maria's drafts, one after everyone else's.
No response body or header may hold a draft marker of anyone but the viewer.
The same requests, compared before and after the drafts of others, prove that nothing another
person sees changes when a draft is saved: no count (dashboard, review queue, task lists), no
chart, no order, no date, no badge, not even a sign that the draft exists. Saving a draft writes
no notification, no email and no audit row, and no notification row, email or audit page holds
a marker.
"""
from __future__ import annotations

import collections
import difflib
import html
import itertools
import json
import re
import secrets
import time
from datetime import time as clock_time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from app.core.clock import today_for
from app.extensions import db
from app.models import (
    AgendaItem,
    Assignment,
    AuditEvent,
    Exercise,
    Invitation,
    Notification,
    Pair,
    PairExercise,
    Reflection,
    SessionNote,
    TherapySession,
    User,
)
from tests.builders_homework import FULL_RATINGS, built_in, make_exercise
from tests.conftest import PASSWORD, _clean_tables, login, make_client, make_therapist, without_form_keys

DRAFT_TAG = "zzdraft"  # every draft marker starts with it: ZZDRAFT-<author>-<where>-<field>-<hex>
SENT_TAG = "ZZSENT"    # sent (not draft) words: the positive controls of the sweep
RUN = secrets.token_hex(3)
DRAFT_RATINGS = {"resentment": "9", "closeness": "1", "stayed_present": "no"}  # used by no sent one
# "ruth_pending" is a browser halfway through Ruth's sign-in (password given, code not yet):
# the one state in which /login/verify shows its page.
ACCOUNTS = ["ruth", "sam", "maria", "dora", "iris", "priya", "anonymous", "ruth_pending"]
CLIENTS = ["maria", "dora", "iris", "priya"]

# URL variable -> the tables whose every row id fills it. A GET rule with a variable missing here
# makes test_every_get_rule_was_fetched_with_real_ids fail: add the variable here first.
ID_SOURCES = {
    "client_id": (User,),  # therapists' ids too: /clients/<a therapist> must show nothing either
    "task_id": (Assignment,),
    "reflection_id": (Reflection,),
    "session_id": (TherapySession,),
    "pair_id": (Pair,),
    "pair_exercise_id": (PairExercise,),
    "exercise_id": (Exercise,),
    "item_id": (AgendaItem,),
    "invitation_id": (Invitation,),
    "note_id": (Notification, SessionNote),
}
TOKEN_VARIABLES = {"token"}  # filled with the world's real invitation and password-reset tokens

# GET rules not walked, and why. Nothing else may be left out.
SKIPPED_RULES = {
    "static": "files from static/ are the same for everyone and hold no user data",
}
# GET rules that answer no one with a page of their own (each is still fetched and hunted).
REDIRECT_ONLY = {
    "accounts.index": "sends each person to her own home",
    "accounts.confirm_two_factor_enrolment": "the emailed link: marks this browser, then sends "
                                             "her to the two-factor setup page",
}

# Query strings that change what a page holds ("" is the page itself).
QUERY_VARIANTS = {
    "progress.client_export_page": ["", "?private_notes=1"],
    "progress.client_export_json": ["", "?private_notes=1"],
    "progress.caseload": ["", "?sort=activity", "?sort=unreviewed", "?sort=overdue", "?attention=1",
                       "?q=a"],
    "progress.client": ["", "?page=2"],
    "homework.queue": ["", "?page=2"],
    "homework.library": ["", "?archived=1", "?q=a", "?family=stay_present", "?page=2"],
    "homework.preview_exercise": ["", "?as=mother", "?as=daughter"],
    "notifications.index": ["", "?page=2"],
    "therapy_sessions.index": ["", "?page=2"],
    "audit.client_trail": ["", "?page=2"],
    "audit.my_activity": ["", "?page=2"],
    "accounts.login": ["", "?next=/home"],
}

# Pages that change with every read, so that "before" and "after" a draft cannot be compared:
# the audit trail records each read of a record (the sweep's own reads). That saving a draft
# writes no audit row is asserted on the table itself, and the trail is still searched for
# markers.
NOT_COMPARABLE = {
    "audit.client_trail": "each read of the record adds a row to the trail",
    "audit.my_activity": "each read of her record by someone else adds a row",
    "therapy_sessions.calendar": "says when her calendar last fetched the feed, and the sweep fetches it",
}

def marker(author: str, where: str, field: int) -> str:
    return f"ZZDRAFT-{author}-{where}-a{field}-{RUN}"


def draft_form(task: Assignment, author: str, where: str) -> dict:
    """A marker in every answer field of the task, and ratings no sent reflection has."""
    form = {f"answer_{i}": f"{marker(author, where, i)} words" for i in range(len(task.prompts))}
    form.update(DRAFT_RATINGS)
    return form


def sent_answers(author: str, where: str, count: int) -> list[str]:
    return [f"{SENT_TAG}-{author}-{where}-a{i}-{RUN} what happened" for i in range(count)]


# --- the world ----------------------------------------------------------------------------------

class World:
    """The people, their signed-in browsers, and what the sweeps found."""

    def __init__(self, app, mailbox):
        self.app = app
        self.mailbox = mailbox
        self.users: dict[str, User] = {}
        self.browsers: dict = {}
        self.tasks: dict[str, Assignment] = {}
        self.sessions: dict[str, TherapySession] = {}  # where session notes' drafts are kept
        self.tokens: list[str] = []
        self.snapshots: dict[str, dict] = {}   # name -> {(viewer, url): (status, comparable body)}
        self.leaks: dict[tuple, dict] = {}      # (viewer, url, body/header) -> {whose: an excerpt}
        self.crashes: set[tuple] = set()        # (viewer, url, status)
        self.own_hits: set[tuple] = set()       # (viewer, url): her own marker found (controls)
        self.sent_hits: set[tuple] = set()      # (viewer, url, whose sent words)
        self.fetched_rules: set[str] = set()
        self.fetched: dict[tuple, int] = {}     # (viewer, url) -> the last status
        self.shown_rules: set[str] = set()      # endpoints that answered someone 200
        self.unfillable: dict[str, str] = {}
        self.side_effects: list[str] = []       # what saving a draft changed besides the draft
        self.requests = 0
        self.seconds = 0.0

    def key_of(self, user_id: int) -> str:
        return next(k for k, u in self.users.items() if u.id == user_id)

    # -- acting through the app -------------------------------------------------------------

    def save_draft(self, author: str, where: str, by_form: bool = False) -> None:
        """As the client, save a draft with markers: the autosave route or "Save draft"."""
        task = self.tasks[where]
        db.session.refresh(task)
        browser = self.browsers[author]
        form = draft_form(task, author, where)
        if by_form:
            response = browser.post(f"/tasks/{task.id}", data={**form, "action": "save"})
            assert response.status_code == 302, (where, response.status_code)
        else:
            response = browser.post(f"/tasks/{task.id}/draft", data=form)
            assert response.status_code == 200 and response.get_json()["saved"], \
                (where, response.status_code, response.get_data(as_text=True)[:300])
        db.session.expire_all()
        stored = db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))
        assert stored is not None and stored.status == "draft", where
        assert all(marker(author, where, i) in stored.answers[i] for i in range(len(task.prompts)))

    def save_note_draft(self, author: str, where: str, kind: str) -> None:
        """As the author, keep a draft of one note of a session through the notes' autosave
        (issue 18): a marker in the note, or in every section of a clinical note on SOAP.
        "member_edit": her draft of an edit of her own note there (for both members to read)."""
        from app.therapy_sessions.note_drafts import stored_note
        session = self.sessions[where]
        payload = {"kind": kind, "base_version": str(stored_note(session, kind).version),
                   "draft_version": "", "body": f"{marker(author, where + '_' + kind, 0)} words"}
        if kind == "member_edit":
            note = db.session.scalar(sa.select(SessionNote).where(
                SessionNote.session_id == session.id, SessionNote.author_id == self.users[author].id,
                SessionNote.kind == "member"))
            payload.update(kind="member", note_id=str(note.id), base_version=str(note.version),
                           visibility="pair")
        if kind == "clinical":
            payload.update(body="", labels=["Subjective", "Objective", "Assessment", "Plan"],
                           sections=[marker(author, where + "_clinical", i) for i in range(4)])
        response = self.browsers[author].post(f"/sessions/{session.id}/note-draft", json=payload)
        assert response.status_code == 200 and response.get_json()["draft"], \
            (where, kind, response.status_code, response.get_data(as_text=True)[:300])

    def half_sign_in(self) -> None:
        """Ruth's password given, her code not yet (the pending step lasts five minutes)."""
        response = self.browsers["ruth_pending"].post(
            "/login", data={"email": self.users["ruth"].email, "password": PASSWORD})
        assert response.status_code == 302 and response.location.endswith("/login/verify")

    def therapist_post(self, therapist: str, url: str) -> None:
        response = self.browsers[therapist].post(url)
        assert response.status_code == 302, (url, response.status_code)

    # -- the walk over app.url_map --------------------------------------------------------------

    def ids(self) -> dict[str, list]:
        db.session.expire_all()
        values = {}
        for variable, models in ID_SOURCES.items():
            values[variable] = sorted(itertools.chain.from_iterable(
                db.session.scalars(sa.select(model.id)).all() for model in models))
        for variable in TOKEN_VARIABLES:
            values[variable] = list(self.tokens)
        return values

    def urls(self) -> list[tuple[str, str]]:
        """(endpoint, url) for every GET rule, every real id, every query variant."""
        values = self.ids()
        adapter = self.app.url_map.bind("localhost")
        found = []
        for rule in sorted(self.app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            if "GET" not in rule.methods or rule.endpoint in SKIPPED_RULES:
                continue
            missing = [v for v in rule.arguments if not values.get(v)]
            if missing:
                self.unfillable[rule.endpoint] = f"{rule.rule}: no real value for {missing}"
                continue
            names = sorted(rule.arguments)
            for combination in itertools.product(*(values[n] for n in names)):
                path = adapter.build(rule.endpoint, dict(zip(names, combination, strict=False)), method="GET")
                for query in QUERY_VARIANTS.get(rule.endpoint, [""]):
                    found.append((rule.endpoint, path + query))
        return found

    def sweep(self, name: str) -> None:
        """Every account GETs every URL: leaks are collected, comparable bodies kept."""
        started = time.perf_counter()
        self.half_sign_in()
        urls = self.urls()
        snapshot = {}
        for viewer in ACCOUNTS:
            browser = self.browsers[viewer]
            for endpoint, url in urls:
                response = browser.get(url)
                self.requests += 1
                self.fetched_rules.add(endpoint)
                self.fetched[(viewer, url)] = response.status_code
                if response.status_code == 200:
                    self.shown_rules.add(endpoint)
                body = response.get_data(as_text=True)
                headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
                self._hunt(viewer, url, body, "body")
                self._hunt(viewer, url, headers, "header")
                if SENT_TAG.lower() in body.lower():
                    for author in re.findall(SENT_TAG + r"-([a-z]+)-", body, flags=re.I):
                        self.sent_hits.add((viewer, url, author.lower()))
                if response.status_code >= 500:
                    self.crashes.add((viewer, url, response.status_code))
                if endpoint not in NOT_COMPARABLE:
                    snapshot[(viewer, url)] = (response.status_code, comparable(url, body))
        self.snapshots[name] = snapshot
        self.seconds += time.perf_counter() - started

    def _hunt(self, viewer: str, url: str, text: str, where: str) -> None:
        lowered = text.lower()
        start = lowered.find(DRAFT_TAG)
        while start != -1:
            found = re.match(r"zzdraft-?([a-z]*)", lowered[start:])
            whose = found.group(1)
            if whose == viewer:
                self.own_hits.add((viewer, url))
            else:  # someone else's, or a cut-off marker (an excerpt): a leak either way
                excerpt = " ".join(text[max(0, start - 40):start + 50].split())
                self.leaks.setdefault((viewer, url, where), {}).setdefault(whose or "?", excerpt)
            start = lowered.find(DRAFT_TAG, start + 1)


def comparable(url: str, body: str) -> str:
    """The page with what legitimately differs from one request to the next taken out."""
    if url.split("?")[0].endswith(".json"):
        try:
            record = json.loads(body)
        except ValueError:
            return body
        if isinstance(record, dict):
            record.pop("exported_at", None)  # the time of the export itself
        return json.dumps(record, sort_keys=True, indent=1)
    body = without_form_keys(re.sub(r'nonce="[^"]*"', 'nonce=""', body))
    # Flash messages belong to the viewer's own last actions (and pile up for anonymous
    # redirects until a page shows them); they are hunted for markers, not compared.
    body = re.sub(r'<div class="flashes">.*?</div>', "", body, flags=re.DOTALL)
    if "/export" in url:  # the printable export names the moment it was made
        body = re.sub(r"Exported [^<]*", "Exported ...", body)
    if url.endswith(".ics"):  # each event's DTSTAMP is the moment the feed was fetched
        body = re.sub(r"DTSTAMP:\S+", "DTSTAMP:...", body)
    # Whitespace-only lines come and go with the template's {% if %} blocks (a badge left out).
    return "\n".join(line.rstrip() for line in body.splitlines() if line.strip())


def _counts() -> tuple[int, int]:
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Notification)),
            db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)))


def _saving_drafts(world: World, label: str, saves: list[tuple]) -> None:
    """Save drafts through HTTP; record any notification, email or audit row they write."""
    notes_before, audit_before = _counts()
    mails_before = len(world.mailbox.messages)
    for save in saves:  # (author, task key[, by form]) or (author, session key, note kind)
        (world.save_note_draft if save[1] in world.sessions else world.save_draft)(*save)
    notes_after, audit_after = _counts()
    if notes_after != notes_before:
        world.side_effects.append(f"{label}: {notes_after - notes_before} notification row(s)")
    if audit_after != audit_before:
        world.side_effects.append(f"{label}: {audit_after - audit_before} audit row(s)")
    if len(world.mailbox.messages) != mails_before:
        world.side_effects.append(f"{label}: {len(world.mailbox.messages) - mails_before} email(s)")


def _build(world: World) -> None:
    """The practice, through the services (the drafts come later, through HTTP)."""
    from app.accounts.invitations import invitation_token, invite_client
    from app.accounts.services import make_reset_token
    from app.homework import reflections, review
    from app.homework.tasks import assign_exercise
    from app.pairs import services as pairs
    from app.therapy_sessions import services as sessions

    ruth, sam = make_therapist("Ruth"), make_therapist("Sam")
    maria, dora, iris = make_client(ruth, "Maria"), make_client(ruth, "Dora"), make_client(ruth, "Iris")
    priya = make_client(sam, "Priya")
    world.users = dict(ruth=ruth, sam=sam, maria=maria, dora=dora, iris=iris, priya=priya)
    for user in world.users.values():
        user.email_notifications = True  # so that every notification is also an email
    db.session.commit()

    ruths_own = make_exercise(ruth, title="Ruth's walk", prompts=["What?", "How?", "And then?"])
    make_exercise(sam, title="Sam's letter", family="forgiveness_letter")
    today = today_for(ruth)
    tasks = world.tasks

    def give(key, therapist, client, exercise=None, due=2):
        """One task; a negative `due` builds an overdue one."""
        due_date = today + timedelta(days=due)
        tasks[key] = assign_exercise(therapist, client, exercise or built_in(), due_date=due_date,
                                     today=min(today, due_date))[0]

    def send(key, author, count=None, urgent=False):
        task = tasks[key]
        reflection, new = reflections.submit_reflection(
            world.users[author], task, sent_answers(author, key, count or len(task.prompts)),
            FULL_RATINGS, urgent=urgent)
        assert new
        return reflection

    # Iris, on her own: a sent reflection with feedback, an addendum and a private annotation;
    # tasks for drafts (one of each way of saving), one to cancel, one to delete; one overdue.
    give("iris_sent", ruth, iris)
    sent = send("iris_sent", "iris", urgent=True)
    review.give_feedback(ruth, sent, f"{SENT_TAG}-ruth-feedback-{RUN}", mark_reviewed=False)
    reflections.add_addendum(iris, sent, f"{SENT_TAG}-iris-addendum-{RUN}")
    review.annotate(ruth, sent, "A private annotation.")
    give("iris_new", ruth, iris, ruths_own)
    give("iris_safety", ruth, iris, built_in("safety"))
    give("iris_cancelled", ruth, iris, ruths_own)
    give("iris_deleted", ruth, iris)
    give("iris_untouched", ruth, iris, due=-2)  # overdue, never started

    # Maria and Dora, linked with both members' consent.
    pair = pairs.link_pair(ruth, maria, "mother", dora, "daughter")
    pairs.respond(maria, pair, accept=True)
    pairs.respond(dora, pair, accept=True)

    def give_pair(key, reveal_together, exercise=None):
        [pair_exercise] = pairs.assign_to_pair(ruth, pair, exercise or built_in("stay_present"),
                                             due_date=today + timedelta(days=1), today=today,
                                             reveal_together=reveal_together)
        for task in pair_exercise.tasks:
            tasks[f"{key}_{world.key_of(task.client_id)}"] = task

    give_pair("p1", reveal_together=False)  # Dora sends and shares; Maria drafts
    give_pair("p2", reveal_together=True)   # Dora sends and shares; Maria drafts
    give_pair("p3", reveal_together=True)   # Maria sends and shares; Dora drafts
    give_pair("p4", reveal_together=False, exercise=built_in("choose_battles"))  # both send
    give_pair("p5", reveal_together=False, exercise=built_in("idealisation"))  # Maria shares; Dora drafts
    for key, author in (("p1_dora", "dora"), ("p2_dora", "dora"), ("p3_maria", "maria"),
                        ("p4_maria", "maria"), ("p4_dora", "dora"), ("p5_maria", "maria")):
        reflection = send(key, author)
        if key != "p4_dora":
            pairs.share(world.users[author], reflection)
        review.give_feedback(ruth, reflection, f"{SENT_TAG}-ruth-on-{key}-{RUN}", mark_reviewed=True)
    give("maria_sent", ruth, maria)
    review.give_feedback(ruth, send("maria_sent", "maria"), "Well noticed.", mark_reviewed=True)
    give("maria_new", ruth, maria, ruths_own)
    give("dora_new", ruth, dora, built_in("growing_up"))

    # Sessions (held five days ago, so that no session starts while the test runs and what
    # was sent since shows on the prep page): each client's own, and the pair's.
    held = today - timedelta(days=5)
    for who in (iris, maria):
        session = sessions.record_session(ruth, who, held, clock_time(9, 0), 50)
        world.sessions[f"{world.key_of(who.id)}_session"] = session
        sessions.save_shared_note(ruth, session, "Shared summary.", 0)
        sessions.save_clinical_note(ruth, session, "Clinical note.", 0)
        sessions.add_comment(who, session, "My comment.")
    pair_session = sessions.record_session(ruth, pair, held, clock_time(11, 0), 60)
    world.sessions["pair_session"] = pair_session
    sessions.save_shared_note(ruth, pair_session, "Pair summary.", 0)
    sessions.add_member_note(maria, pair_session, "Maria, for both.", "pair")
    sessions.add_member_note(dora, pair_session, "Dora, for Ruth only.", "therapist")
    sessions.add_agenda_item(maria, "Christmas plans")
    sessions.add_agenda_item(iris, "Work")

    # Sam and Priya.
    give("priya_sent", sam, priya)
    review.give_feedback(sam, send("priya_sent", "priya"), "Thank you.", mark_reviewed=False)
    give("priya_new", sam, priya)
    priya_session = sessions.record_session(sam, priya, held, clock_time(14, 0), 50)
    sessions.save_shared_note(sam, priya_session, "Priya's summary.", 0)
    sessions.add_agenda_item(priya, "Sleep")

    with current_app.test_request_context():
        invitation = invite_client(ruth, f"new.client.{RUN}@example.org")
    world.tokens = [invitation_token(invitation), make_reset_token(iris)]
    # A session with Maria scheduled ahead (its move and cancel pages), and Ruth's calendar
    # address: the feed is swept like every page.
    from app.therapy_sessions import calendar_feed, schedule
    schedule.schedule_session(ruth, maria, today + timedelta(days=4), clock_time(9, 0), 50, "Room 2")
    world.tokens.append(calendar_feed.new_address(ruth))


@pytest.fixture(scope="module")
def world(_app, _smtp_server):
    """Built once for the module (the function-scoped `app` fixture would empty the tables
    between tests): the practice, then drafts in stages, with a full sweep before and after."""
    saved = dict(_app.config)
    mailbox, port = _smtp_server
    with _app.app_context():
        _clean_tables()
        mailbox.messages.clear()
        _app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        w = World(_app, mailbox)
        _build(w)
        w.browsers = {"anonymous": _app.test_client(), "ruth_pending": _app.test_client()}
        for key, user in w.users.items():
            w.browsers[key] = _app.test_client()
            login(w.browsers[key], user)

        # Drafts on tasks her therapist then cancels and deletes (kept, and still hers alone).
        _saving_drafts(w, "Iris's drafts on tasks later cancelled and deleted",
                       [("iris", "iris_cancelled"), ("iris", "iris_deleted", True)])
        w.therapist_post("ruth", f"/tasks/{w.tasks['iris_cancelled'].id}/cancel")
        w.therapist_post("ruth", f"/tasks/{w.tasks['iris_deleted'].id}/delete")
        # Everything written so far, three days ago: a draft saved during the test is then the
        # newest thing, so that any date, order or "last activity" it moves shows (a draft saved
        # in the same minute as a sent reflection could otherwise hide behind it).
        db.session.expire_all()
        for reflection in db.session.scalars(sa.select(Reflection)):
            for column in ("submitted_at", "draft_saved_at"):
                if getattr(reflection, column) is not None:
                    setattr(reflection, column, getattr(reflection, column) - timedelta(days=3))
        db.session.commit()

        # Ruth's half-written notes (kept before every sweep: her own pages hold them throughout).
        _saving_drafts(w, "Ruth's note drafts", [("ruth", "maria_session", "shared"),
                                                 ("ruth", "maria_session", "clinical"),
                                                 ("ruth", "pair_session", "shared")])
        w.sweep("first")    # first reads change some pages once (feedback now seen, ...)
        w.sweep("before")   # the reference: no draft of Maria's, Dora's, Priya's, no new one of Iris's
        w.sweep("again")    # nothing saved since "before": proves the comparison is sound
        _saving_drafts(w, "Maria's drafts", [
            ("maria", "p1_maria"),              # pair, not revealed together: Dora sent and shared
            ("maria", "p2_maria"),              # pair, revealed together: Dora sent and shared
            ("maria", "maria_new", True),       # beside her sent reflection; the form's button
            ("maria", "pair_session", "member"),  # a note of her own on the pair's session
            ("maria", "pair_session", "member_edit"),  # an edit of her note that Dora reads
        ])
        w.sweep("after_maria")
        _saving_drafts(w, "Dora's, Iris's and Priya's drafts", [
            ("dora", "p3_dora"),                # revealed together: Maria sent and shared
            ("dora", "p5_dora", True),          # not revealed together: Maria sent and shared
            ("dora", "dora_new"),
            ("iris", "iris_new"),               # beside her sent reflection
            ("iris", "iris_safety", True),      # a family never shared
            ("priya", "priya_new"),             # Sam's client
            ("dora", "pair_session", "member"),
        ])
        w.sweep("after_all")

        # Reminders (notifications and emails about open tasks) once the drafts exist.
        from app.notifications.services import send_reminders
        send_reminders()
        for viewer in ACCOUNTS:
            for url in ("/notifications", "/home", "/caseload"):
                response = w.browsers[viewer].get(url)
                w._hunt(viewer, url + " (after reminders)", response.get_data(as_text=True), "body")
        yield w
        db.session.remove()
    _app.config.clear()
    _app.config.update(saved)


# --- the tests ----------------------------------------------------------------------------------

def test_the_sweep_can_see_what_it_hunts(world):
    """Controls: the markers are stored and findable in the same responses and formats, so
    that finding none elsewhere means something."""
    def hit(viewer, url):
        return (viewer, url) in world.own_hits

    t = world.tasks
    for author, key in (("maria", "p1_maria"), ("maria", "p2_maria"), ("maria", "maria_new"),
                        ("dora", "p3_dora"), ("dora", "p5_dora"), ("iris", "iris_new"),
                        ("iris", "iris_safety"), ("priya", "priya_new")):
        assert hit(author, f"/tasks/{t[key].id}"), f"{author} does not see her own draft on {key}"
    for author in CLIENTS:
        assert hit(author, "/export"), f"{author}'s own printable export lacks her drafts"
        assert hit(author, "/export.json"), f"{author}'s own JSON export lacks her drafts"
    # Sent words do reach the therapist's exports (both forms, with and without her private
    # notes), and a shared reflection the partner.
    for client, therapist in (("iris", "ruth"), ("maria", "ruth"), ("dora", "ruth"), ("priya", "sam")):
        for suffix in ("", ".json", "?private_notes=1", ".json?private_notes=1"):
            url = f"/clients/{world.users[client].id}/export{suffix}"
            assert (therapist, url, client) in world.sent_hits, \
                f"{therapist}'s {url} lacks {client}'s sent words"
    assert ("dora", "/shared", "maria") in world.sent_hits, "Dora cannot read what Maria shared"
    # Session notes' drafts (issue 18): each author finds hers on the session's page.
    sessions = {key: f"/sessions/{session.id}" for key, session in world.sessions.items()}
    for author, key in (("ruth", "maria_session"), ("ruth", "pair_session"), ("maria", "pair_session"),
                        ("dora", "pair_session")):
        assert hit(author, sessions[key]), f"{author} does not see her own note draft on {key}"
    assert ("maria", "/shared", "dora") in world.sent_hits, "Maria cannot read what Dora shared"


def test_every_get_rule_was_fetched_with_real_ids(world):
    """A new GET route the id-filling cannot handle fails here (or goes in SKIPPED_RULES)."""
    get_rules = {r.endpoint for r in world.app.url_map.iter_rules() if "GET" in r.methods}
    assert not world.unfillable, ("GET rules with a URL variable the sweep cannot fill (add it "
                                  f"to ID_SOURCES or TOKEN_VARIABLES): {world.unfillable}")
    missed = sorted(get_rules - world.fetched_rules - set(SKIPPED_RULES))
    assert not missed, f"GET rules never fetched: {missed}"
    never_shown = sorted(get_rules - world.shown_rules - set(SKIPPED_RULES) - set(REDIRECT_ONLY))
    assert not never_shown, (f"GET rules that answered no account with a page (200), so their "
                             f"content was never searched: {never_shown}")
    stale = sorted((set(QUERY_VARIANTS) | set(SKIPPED_RULES) | set(NOT_COMPARABLE)
                    | set(REDIRECT_ONLY)) - get_rules)
    assert not stale, f"entries for GET rules that no longer exist: {stale}"


def test_no_draft_reaches_anyone_else_through_any_get(world):
    """Every account, every GET rule, every real id, before and after the drafts: no body and
    no header holds a draft marker of anyone but the viewer."""
    leaks = sorted(world.leaks.items())
    assert not leaks, (
        f"{len(leaks)} of {world.requests} responses hold a draft that is not the viewer's:\n"
        + "\n".join(f"  {viewer} GET {url} ({where}): drafts of {', '.join(sorted(whose))}"
                     f" -- e.g. ...{next(iter(whose.values()))}..."
                     for (viewer, url, where), whose in leaks))


def test_no_page_crashed_during_the_sweep(world):
    """A page that fails cannot be vouched for: every GET answers below 500."""
    assert not world.crashes, sorted(world.crashes)


def test_saving_a_draft_notifies_emails_and_audits_nobody(world):
    """No notification row, email or audit row comes from a draft, nor holds a marker; the
    audit trail pages were searched by each client's therapist and by the client herself."""
    assert not world.side_effects, world.side_effects
    db.session.expire_all()
    notes = [f"{n.user_id} {n.kind} {n.link}" for n in db.session.scalars(sa.select(Notification))]
    assert notes, "the world should hold notifications"
    assert not [n for n in notes if DRAFT_TAG in n.lower()], notes
    events = [" ".join(str(getattr(e, c.key)) for c in AuditEvent.__table__.columns)
              for e in db.session.scalars(sa.select(AuditEvent))]
    assert not [e for e in events if DRAFT_TAG in e.lower()]
    assert world.mailbox.messages, "the world should have sent emails (the SMTP server is on)"
    leaked = [m["To"] for m in world.mailbox.messages if DRAFT_TAG in m.as_string().lower()]
    assert not leaked, f"emails holding a draft marker, to: {leaked}"
    for client in CLIENTS:
        therapist = "sam" if client == "priya" else "ruth"
        assert world.fetched.get((therapist, f"/clients/{world.users[client].id}/audit")) == 200
        assert world.fetched.get((client, "/account/activity")) == 200


def _differences(world: World, viewer: str, before: str, after: str) -> list[str]:
    """The viewer's pages (status and comparable body) that differ between two sweeps."""
    differences = []
    old, new = world.snapshots[before], world.snapshots[after]
    for (who, url), (status, body) in sorted(old.items()):
        if who != viewer or (who, url) not in new:
            continue  # (a draft's reflection id exists only in the later sweep)
        new_status, new_body = new[(who, url)]
        if (status, body) != (new_status, new_body):
            diff = [line for line in difflib.unified_diff(body.splitlines(), new_body.splitlines(),
                                                          lineterm="", n=0)
                    if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            differences.append(f"  {viewer} GET {url}: {status} -> {new_status}\n      "
                               + "\n      ".join(line.strip()[:200] for line in diff[:10]))
    return differences


def test_the_sweep_is_repeatable(world):
    """Two sweeps with nothing saved between them see the same pages: otherwise the comparison
    below would prove nothing (or comparable() needs one more normalisation)."""
    unstable = [d for viewer in ACCOUNTS for d in _differences(world, viewer, "before", "again")]
    assert not unstable, "pages that change with nothing saved:\n" + "\n".join(unstable)


# Each viewer, across sweeps between which only other people saved drafts.
STAGES = {
    "ruth": ("before", "after_all"), "sam": ("before", "after_all"),
    "anonymous": ("before", "after_all"), "ruth_pending": ("before", "after_all"),
    "dora": ("before", "after_maria"), "iris": ("before", "after_maria"),
    "priya": ("before", "after_maria"),
    "maria": ("after_maria", "after_all"),  # Dora's (her daughter's), Iris's and Priya's drafts
}


_DATES = [
    re.compile(r"\d{4}-\d\d-\d\d(?:[T ][\d:.]+(?:[+-]\d\d:\d\d|Z)?)?"),  # ISO
    re.compile(r"(?:[A-Z][a-z]{2} )?\d{1,2} [A-Z][a-z]{2}(?: \d{4})?(?:, \d\d:\d\d)?"),  # 1 Dec 2026, 08:57
    re.compile(r"\b\d\d:\d\d\b"),
]


def numbers_of(body: str) -> collections.Counter:
    """Every number a reader sees on an HTML page (dates and times left out), in any order: the
    counts, figures, ratings and badges; a change of order alone is not a count."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.DOTALL)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    for pattern in _DATES:
        text = pattern.sub(" ", text)
    return collections.Counter(re.findall(r"\d+", text))


def test_no_count_changes_for_anyone_else_when_a_draft_is_saved(world):
    """The numbers on every page (dashboard, review queue, task lists and board, pair page,
    prep, notifications badge ...) stay the same for everyone else when a client saves a draft."""
    caseload = numbers_of(world.snapshots["before"][("ruth", "/caseload")][1])
    assert caseload and numbers_of(world.snapshots["before"][("ruth", "/review")][1]), \
        "no numbers found on the dashboard or the review queue: numbers_of() reads nothing"
    changed = []
    for viewer, (before, after) in STAGES.items():
        old, new = world.snapshots[before], world.snapshots[after]
        for (who, url), (_status, body) in sorted(old.items()):
            if who != viewer or (who, url) not in new or ".json" in url:
                continue  # (the JSON exports are compared whole in the next test)
            was, now = numbers_of(body), numbers_of(new[(who, url)][1])
            if was != now:
                changed.append(f"  {viewer} GET {url}: lost {dict(was - now)}, gained {dict(now - was)}")
    assert not changed, "numbers that change for someone else when a draft is saved:\n" + "\n".join(changed)


def test_no_page_changes_for_anyone_else_when_a_draft_is_saved(world):
    """Beyond the numbers: charts, badges, orders, dates, the exports. Nothing another account
    sees may change when a client saves a draft, not even a sign that the draft exists."""
    problems = [d for viewer, (before, after) in STAGES.items()
                for d in _differences(world, viewer, before, after)]
    assert not problems, ("pages that change for someone else when a draft is saved:\n"
                          + "\n".join(problems))
