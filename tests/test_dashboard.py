"""The caseload dashboard: every client with last activity, open and overdue tasks, reflections to
review (and urgent ones) and a resentment trend; sortable, filterable, paginated; only the
therapist's own clients; a bounded number of SQL statements whatever the caseload's size."""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import event

from app.core.clock import today_for
from app.core.passwords import hash_password
from app.extensions import db
from app.homework.families import sharing_for
from app.models import (
    REFLECTION_SUBMITTED,
    ROLE_CLIENT,
    TASK_OPEN,
    TASK_SUBMITTED,
    Assignment,
    Pair,
    PairMember,
    Reflection,
    User,
)
from tests.builders_homework import assign, built_in, days_ago, save_draft, submit
from tests.builders_pairs import signed_in
from tests.conftest import PASSWORD, make_client, make_therapist


def rows_of(response) -> list[dict]:
    """The dashboard table as a reader sees it, one dict per client row."""
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    table = re.search(r'<table class="dashboard">.*?<tbody>(.*?)</tbody>', html, re.DOTALL)
    if table is None:
        return []
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.DOTALL):
        cells = [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split())
                 for c in re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
        name, activity, open_tasks, overdue, review, trend = cells
        to_review, _, urgent = review.partition(" ")
        rows.append({"name": name, "activity": activity, "open": int(open_tasks),
                     "overdue": int(overdue), "to_review": int(to_review),
                     "urgent": int(urgent.split()[0]) if urgent else 0, "trend": trend})
    return rows


def names(rows) -> list[str]:
    return [r["name"] for r in rows]


@pytest.fixture
def caseload(app):
    """Ruth's caseload of four, each standing out in one column, and Sam's client."""
    ruth = make_therapist("Ruth")
    sam = make_therapist("Sam")
    # Alice: two overdue tasks and one open; resentment falling over four weeks
    alice = make_client(ruth, "Alice", email="alice@example.org")
    assign(ruth, alice, due=-3)
    assign(ruth, alice, due=-1)
    assign(ruth, alice, due=4)
    for days, resentment in ((20, 8), (3, 3)):
        task = assign(ruth, alice, due=1)
        reflection = submit(alice, task, ratings={"resentment": resentment, "closeness": 5,
                                                  "stayed_present": "yes"}, submitted_at=days_ago(days))
        reflection.reviewed_at = days_ago(days - 1)
    db.session.commit()
    # Beth: three reflections waiting, one of them urgent; resentment rising; the latest activity
    beth = make_client(ruth, "Beth", email="beth.zebra@example.net")
    for days, resentment, urgent in ((18, 2, False), (2, 7, True), (0.5, 6, False)):
        submit(beth, assign(ruth, beth, due=1),
               ratings={"resentment": resentment, "closeness": 5, "stayed_present": "no"},
               urgent=urgent, submitted_at=days_ago(days))
    # Cara: one reflection waiting, not urgent; a draft saved a day ago
    cara = make_client(ruth, "Cara")
    submit(cara, assign(ruth, cara, due=1), submitted_at=days_ago(6))
    draft = save_draft(cara, assign(ruth, cara, due=2))
    draft.draft_saved_at = days_ago(1)
    db.session.commit()
    # Dana: nothing at all yet
    dana = make_client(ruth, "Dana")
    # Sam's client, with an overdue task and an urgent reflection: never on Ruth's dashboard
    priya = make_client(sam, "Alice-Priya", email="alice.priya@example.org")
    assign(sam, priya, due=-2)
    submit(priya, assign(sam, priya, due=1), urgent=True)
    return {"ruth": ruth, "sam": sam, "alice": alice, "beth": beth, "cara": cara, "dana": dana,
            "priya": priya}


def test_dashboard_columns(app, caseload):
    c = caseload
    rows = {r["name"]: r for r in rows_of(signed_in(app, c["ruth"]).get("/caseload"))}
    assert set(rows) == {c["alice"].name, c["beth"].name, c["cara"].name, c["dana"].name}
    alice, beth, cara, dana = (rows[c[k].name] for k in ("alice", "beth", "cara", "dana"))
    assert (alice["open"], alice["overdue"], alice["to_review"], alice["urgent"]) == (3, 2, 0, 0)
    assert (beth["open"], beth["overdue"], beth["to_review"], beth["urgent"]) == (0, 0, 3, 1)
    assert (cara["open"], cara["overdue"], cara["to_review"], cara["urgent"]) == (1, 0, 1, 0)
    assert (dana["open"], dana["overdue"], dana["to_review"], dana["urgent"]) == (0, 0, 0, 0)
    assert alice["trend"] == "falling"
    assert beth["trend"] == "rising"
    assert cara["trend"] == dana["trend"] == "too little data"
    assert dana["activity"] == "—"
    for row in (alice, beth, cara):
        assert re.fullmatch(r"\d{1,2} \w{3} \d{4}, \d\d:\d\d", row["activity"]), row


def test_dashboard_shows_urgent_and_overdue_as_badges(app, caseload):
    html = signed_in(app, caseload["ruth"]).get("/caseload").get_data(as_text=True)
    assert '<span class="badge urgent">1 urgent</span>' in html
    assert '<span class="badge warn">2</span>' in html
    assert '<span class="badge trend-falling">falling</span>' in html
    assert '<span class="badge trend-rising">rising</span>' in html


@pytest.mark.parametrize("sort, expected", [
    ("name", ["alice", "beth", "cara", "dana"]),
    # most recent first; never active last. Cara's draft of a day ago is not activity her
    # therapist sees (a draft is its author's alone): her last is the reflection of six days ago.
    ("activity", ["beth", "alice", "cara", "dana"]),
    ("overdue", ["alice", "beth", "cara", "dana"]),  # most overdue first, then by name
    ("unreviewed", ["beth", "cara", "alice", "dana"]),  # urgent first, then most waiting
    ("nonsense", ["alice", "beth", "cara", "dana"]),  # an unknown sort falls back to name
])
def test_sorting_changes_the_order(app, caseload, sort, expected):
    rows = rows_of(signed_in(app, caseload["ruth"]).get(f"/caseload?sort={sort}"))
    assert names(rows) == [caseload[k].name for k in expected]


def test_sorting_by_overdue_and_unreviewed_is_not_just_by_name(app, caseload):
    """Zoe has the most of both: she moves from last (by name) to first."""
    ruth = caseload["ruth"]
    zoe = make_client(ruth, "Zoe")
    for due in (-5, -4, -3):
        assign(ruth, zoe, due=due)
    for _ in range(4):
        submit(zoe, assign(ruth, zoe, due=1), urgent=True)
    browser = signed_in(app, ruth)
    assert names(rows_of(browser.get("/caseload?sort=name")))[-1] == zoe.name
    assert names(rows_of(browser.get("/caseload?sort=overdue")))[0] == zoe.name
    assert names(rows_of(browser.get("/caseload?sort=unreviewed")))[0] == zoe.name
    assert names(rows_of(browser.get("/caseload?sort=activity")))[0] == zoe.name


def test_urgent_comes_before_a_longer_queue(app, caseload):
    """Una has five reflections waiting, none urgent: Beth's one urgent reflection still comes
    first, then Una, then Cara with one waiting."""
    ruth = caseload["ruth"]
    una = make_client(ruth, "Una")
    for _ in range(5):
        submit(una, assign(ruth, una, due=1))
    rows = rows_of(signed_in(app, ruth).get("/caseload?sort=unreviewed"))
    assert names(rows)[:3] == [caseload["beth"].name, una.name, caseload["cara"].name]
    assert (rows[1]["to_review"], rows[1]["urgent"]) == (5, 0)


def test_search_by_name_or_email(app, caseload):
    c = caseload
    browser = signed_in(app, c["ruth"])
    assert names(rows_of(browser.get("/caseload?q=ALI"))) == [c["alice"].name]
    assert names(rows_of(browser.get("/caseload?q=zebra"))) == [c["beth"].name]  # by email
    assert names(rows_of(browser.get("/caseload?q=example.net"))) == [c["beth"].name]
    assert rows_of(browser.get("/caseload?q=priya")) == []  # Sam's client, even by name
    # % and _ are searched for as they are, not as wildcards that match everyone
    assert rows_of(browser.get("/caseload?q=%25")) == []
    assert rows_of(browser.get("/caseload?q=_")) == []
    assert rows_of(browser.get("/caseload?q=a%25e")) == []
    assert names(rows_of(browser.get("/caseload?q=ce@ex"))) == [c["alice"].name]
    response = browser.get("/caseload?q=nobody-like-this")
    assert rows_of(response) == []
    assert "No client matches." in response.get_data(as_text=True)


def test_attention_keeps_only_overdue_or_urgent(app, caseload):
    c = caseload
    browser = signed_in(app, c["ruth"])
    assert names(rows_of(browser.get("/caseload?attention=1"))) == [c["alice"].name, c["beth"].name]
    assert names(rows_of(browser.get("/caseload?attention=1&sort=unreviewed"))) == [c["beth"].name,
                                                                                 c["alice"].name]
    assert names(rows_of(browser.get("/caseload?attention=1&q=beth"))) == [c["beth"].name]
    # once Beth's urgent reflection is reviewed, she no longer needs attention
    urgent = db.session.query(Reflection).filter_by(author_id=c["beth"].id, urgent=True).one()
    urgent.reviewed_at = days_ago(0)
    db.session.commit()
    assert names(rows_of(browser.get("/caseload?attention=1"))) == [c["alice"].name]


def test_another_therapist_sees_only_her_own(app, caseload):
    rows = rows_of(signed_in(app, caseload["sam"]).get("/caseload"))
    assert names(rows) == [caseload["priya"].name]
    assert (rows[0]["overdue"], rows[0]["to_review"], rows[0]["urgent"]) == (1, 1, 1)
    html = signed_in(app, caseload["sam"]).get("/caseload").get_data(as_text=True)
    for k in ("alice", "beth", "cara", "dana"):
        assert caseload[k].name not in html


def test_dashboard_is_for_therapists(app, caseload):
    assert signed_in(app, caseload["alice"]).get("/caseload").status_code == 403
    assert app.test_client().get("/caseload").status_code == 302


# --- many clients ---------------------------------------------------------------------------------

_HASH = None


def bulk_clients(therapist: User, count: int, prefix: str = "Client", pairs: bool = False) -> list[User]:
    """`count` clients in one flush, each with an open and an overdue task and two sent ones
    (a month apart, so that each has a trend), optionally linked two by two into pairs."""
    global _HASH
    _HASH = _HASH or hash_password(PASSWORD)
    exercise = built_in()
    today = today_for(therapist)
    users = [User(email=f"{prefix.lower()}{therapist.id}-{i:03d}@example.org", name=f"{prefix} {i:03d}",
                  role=ROLE_CLIENT, therapist_id=therapist.id, password_hash=_HASH)
             for i in range(count)]
    db.session.add_all(users)
    db.session.flush()
    for i, user in enumerate(users):
        for due, status, days in ((today + timedelta(days=2), TASK_OPEN, None),
                                  (today - timedelta(days=1), TASK_OPEN, None),
                                  (today, TASK_SUBMITTED, 20), (today, TASK_SUBMITTED, 2)):
            task = Assignment(client_id=user.id, therapist_id=therapist.id, exercise_id=exercise.id,
                              family=exercise.family, title=exercise.title,
                              instructions=exercise.instructions, prompts=list(exercise.prompts),
                              sharing=sharing_for(exercise.family), due_date=due, status=status)
            db.session.add(task)
            if days is not None:
                db.session.add(Reflection(assignment=task, author_id=user.id, answers=["a"],
                                          resentment=(i + days) % 11, closeness=5,
                                          stayed_present="yes", status=REFLECTION_SUBMITTED,
                                          submitted_at=days_ago(days), draft_saved_at=days_ago(days),
                                          urgent=i % 3 == 0))
    if pairs:  # clients 0 and 1, 2 and 3, ... are linked pairs
        for first, second in zip(users[0::2], users[1::2], strict=False):
            pair = Pair(therapist_id=therapist.id)
            db.session.add(pair)
            db.session.flush()
            db.session.add_all([PairMember(pair_id=pair.id, user_id=first.id, label="mother",
                                           accepted_at=days_ago(30)),
                                PairMember(pair_id=pair.id, user_id=second.id, label="daughter",
                                           accepted_at=days_ago(30))])
    db.session.commit()
    return users


def test_pagination_25_per_page(app):
    ruth = make_therapist("Ruth")
    clients = bulk_clients(ruth, 30)
    browser = signed_in(app, ruth)
    first = browser.get("/caseload")
    page1 = names(rows_of(first))
    html = first.get_data(as_text=True)
    assert "Page 1 of 2" in html and 'rel="next"' in html and 'rel="prev"' not in html
    page2_response = browser.get("/caseload?page=2")
    page2 = names(rows_of(page2_response))
    assert len(page1) == 25 and len(page2) == 5
    assert sorted(page1 + page2) == sorted(c.name for c in clients)
    assert page1 + page2 == sorted(page1 + page2)  # sorted by name across pages
    assert "Page 2 of 2" in page2_response.get_data(as_text=True)
    assert '<span class="count">30</span>' in html
    # the pager keeps the sort and the filter
    sorted_html = browser.get("/caseload?sort=overdue&q=client&attention=1").get_data(as_text=True)
    next_link = unescape(re.search(r'<a rel="next" href="([^"]+)"', sorted_html).group(1))
    assert "sort=overdue" in next_link and "q=client" in next_link and "attention=1" in next_link


@pytest.mark.parametrize("page", ["999999999999", "99999999999999999999999999", "-3", "0", "abc"])
def test_any_page_number_gives_a_page(app, page):
    ruth = make_therapist("Ruth")
    bulk_clients(ruth, 30)
    response = signed_in(app, ruth).get(f"/caseload?page={page}")
    assert response.status_code == 200
    assert len(rows_of(response)) in (25, 5)


@contextmanager
def counting_statements():
    statements: list[str] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before_cursor_execute)


STATEMENT_BOUND = 8  # 7 today: user and unread count, page with total, trends, review counts, pairs (2), invitations


def statements_for(browser, url: str) -> tuple[int, list[dict], str]:
    browser.get(url)  # warm up
    with counting_statements() as statements:
        response = browser.get(url)
    return len(statements), rows_of(response), response.get_data(as_text=True)


def test_statement_count_does_not_grow_with_the_caseload(app):
    small, large = make_therapist("Small"), make_therapist("Large")
    bulk_clients(small, 60, pairs=True)  # three pages of 25
    bulk_clients(large, 200, pairs=True)
    counts = {}
    for therapist, size in ((small, 60), (large, 200)):
        browser = signed_in(app, therapist)
        for url in ("/caseload", "/caseload?sort=unreviewed&attention=1", "/caseload?page=3&sort=activity"):
            count, rows, html = statements_for(browser, url)
            assert rows, url
            assert f'Pairs <span class="count">{size // 2}</span>' in html  # every pair listed
            assert all(r["trend"] in ("falling", "rising", "steady") for r in rows)
            counts[(size, url)] = count
    for url in ("/caseload", "/caseload?sort=unreviewed&attention=1", "/caseload?page=3&sort=activity"):
        assert counts[(60, url)] == counts[(200, url)], counts
        assert counts[(200, url)] <= STATEMENT_BOUND, counts
    # A page past the end (an old link) shows the last page rather than nothing.
    count, rows, html = statements_for(signed_in(app, small), "/caseload?page=9")
    assert len(rows) == 10 and "Page 3 of 3" in html, html[:200]
