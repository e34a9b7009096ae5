"""The task list, the review queue and a client's page cost a fixed number of SQL statements,
however many tasks and reflections there are (no N+1)."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app.extensions import db
from tests.builders_homework import bulk_tasks
from tests.conftest import login, make_client

BOUND = 15
# The client page also draws her charts and a timeline of tasks, reflections, feedback and
# sessions: one query each, whatever the number of items.
BOUNDS = {"/clients/{client_id}": 22}


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


def statements_for(client, url: str) -> tuple[int, str]:
    with counting_statements() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements), response.get_data(as_text=True)


def build(people, count: int):
    """`count` tasks for Maria (half of them sent, with feedback) and `count` more, all sent,
    spread over three other clients of the same therapist."""
    therapist = people["therapist"]
    bulk_tasks(therapist, people["client"], count)
    others = [people["other_client_same_therapist"]] + people.setdefault(
        "more_clients", [make_client(therapist) for _ in range(2)])
    for i, other in enumerate(others):
        bulk_tasks(therapist, other, count // 3 + (1 if i < count % 3 else 0), submitted_every=1,
                   feedback=False)
    # Someone else's practice, to prove the scope is applied in the same queries.
    bulk_tasks(people["other_therapist"], people["other_client"], count)


def measure(client, url: str) -> tuple[int, int]:
    """(statements, rows shown) for one GET, after a warm-up request."""
    client.get(url)  # warm up anything cached once per process
    count, page = statements_for(client, url)
    return count, len(re.findall(r"Bulk task \d+", page))


@pytest.mark.parametrize("who,url", [
    ("client", "/home"),
    ("therapist", "/review"),
    ("therapist", "/clients/{client_id}"),
])
def test_statement_count_does_not_grow_with_the_data(app, people, who, url):
    bound = BOUNDS.get(url, BOUND)
    url = url.format(client_id=people["client"].id)
    client = app.test_client()
    login(client, people[who])
    build(people, 3)
    small, small_rows = measure(client, url)
    build(people, 37)  # 40 of each now
    large, large_rows = measure(client, url)

    assert large_rows > small_rows >= 3, (small_rows, large_rows)  # the page really shows more
    assert large == small, f"{url}: {small} statements for 3 items, {large} for 40"
    assert large <= bound, f"{url}: {large} statements"
