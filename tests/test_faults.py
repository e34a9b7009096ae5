"""Faults: when the database is unreachable or a write fails, the person is told "not saved yet"
and keeps every word; a submit commits with its status change, notification and audit row, or
not at all; the app recovers by itself when the database is back.

Failures are made three ways: a statement refused at the driver (both databases), a real
SQLite write lock held by another connection, and a real PostgreSQL connection cut by a proxy."""
from __future__ import annotations

import html
import re
import sqlite3
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from app import create_app
from app.extensions import db
from app.models import AuditEvent, Notification, Reflection
from tests.builders_homework import assign, built_in, save_draft
from tests.conftest import FreshContextClient, login
from tests.support.tcp_proxy import TcpProxy

NOT_SAVED = "Not saved yet — your text is still here and will be retried."
KEPT = "Written at midnight after a hard phone call 🌙 — «every word» matters\nsecond line"
ANSWERED = {"resentment": "6", "closeness": "3", "stayed_present": "partly"}


@pytest.fixture
def task(people):
    task = assign(people["therapist"], people["client"], built_in("stay_present"), due=0)
    save_draft(people["client"], task, ["the draft saved before the fault"])
    return task


def form(answer: str, **extra) -> dict:
    return {"answer_0": answer, "answer_1": "", "answer_2": "", **ANSWERED, **extra}


def stored(task) -> Reflection:
    db.session.expire_all()
    return db.session.scalar(sa.select(Reflection).where(Reflection.assignment_id == task.id))


def count(model, **where) -> int:
    query = sa.select(sa.func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return db.session.scalar(query)


@contextmanager
def database_refuses(pattern: str):
    """Every statement matching `pattern` fails at the driver as a lost connection would."""
    refused = []

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if re.search(pattern, statement, re.IGNORECASE):
            refused.append(statement)
            raise OperationalError(statement, parameters, ConnectionError("server closed the connection"))

    event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        yield refused
    finally:
        event.remove(db.engine, "before_cursor_execute", refuse)


def kept_fields(page: str) -> dict:
    """The fields of the "not saved yet" page's form, as the browser would send them again."""
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        fields[name] = html.unescape(value)
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[name] = html.unescape(value)
    return fields


# --- a write that fails ------------------------------------------------------------------------

def test_a_failed_autosave_says_not_saved_yet_and_the_next_one_saves(client, people, task):
    login(client, people["client"])
    with database_refuses(r"^\s*UPDATE reflections") as refused:
        response = client.post(f"/tasks/{task.id}/draft", data=form(KEPT),
                               headers={"Accept": "application/json", "X-Requested-With": "fetch"})
    assert refused, "the fault was not injected"
    assert response.status_code == 503
    assert response.json["saved"] is False and response.json["retry"] is True
    assert response.json["message"] == NOT_SAVED
    assert response.headers["Retry-After"]
    assert stored(task).answers[0] == "the draft saved before the fault"  # nothing half-written

    again = client.post(f"/tasks/{task.id}/draft", data=form(KEPT),
                        headers={"Accept": "application/json", "X-Requested-With": "fetch"})
    assert again.status_code == 200 and again.json["saved"] is True
    assert stored(task).answers[0] == KEPT


def test_a_failed_send_keeps_every_word_and_can_be_sent_again(client, people, task):
    login(client, people["client"])
    with database_refuses(r"^\s*UPDATE reflections"):
        response = client.post(f"/tasks/{task.id}", data=form(KEPT, action="submit"))
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert html.escape(NOT_SAVED, quote=False) in page
    assert f'action="/tasks/{task.id}"' in page
    kept = kept_fields(page)
    assert kept["answer_0"] == KEPT  # her text is on the page, in the form that is sent again
    assert kept["action"] == "submit" and kept["resentment"] == "6" and kept["csrf_token"]
    assert kept["retry_attempt"] == "1"
    assert stored(task).status == "draft"

    # What the page's button (or its countdown) sends: the same fields, to the same address.
    retried = client.post(f"/tasks/{task.id}", data=kept)
    assert retried.status_code == 302
    reflection = stored(task)
    assert reflection.status == "submitted" and reflection.answers[0] == KEPT


def test_a_send_that_fails_after_her_words_were_written_keeps_them_as_the_draft(
        client, people, task, monkeypatch):
    """Not only a database error: anything failing after the send wrote her words (here the
    audit row) rolls the send back whole, and her words are then saved as the draft."""
    from app.homework import reflections

    def broken(*args, **kwargs):
        raise RuntimeError("the audit trail failed")

    login(client, people["client"])
    monkeypatch.setattr(reflections.audit, "record", broken)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = client.post(f"/tasks/{task.id}", data=form(KEPT, action="submit"))
    finally:
        client.application.config["PROPAGATE_EXCEPTIONS"] = None
    assert response.status_code == 500
    reflection = stored(task)
    assert reflection.status == "draft" and reflection.answers[0] == KEPT


def test_a_page_that_cannot_load_says_so_and_retries_itself(client, people, task):
    login(client, people["client"])
    with database_refuses(r"FROM login_sessions"):
        response = client.get("/home")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "We could not reach the database just now" in page
    assert 'http-equiv="refresh"' in page
    assert client.get("/home").status_code == 200  # and back by itself


def test_a_sign_in_that_fails_keeps_no_password_on_the_page(client, people):
    email = people["client"].email
    with database_refuses(r"FROM users"):
        response = client.post("/login", data={"email": email, "password": "a calm walk by the river"})
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Not saved yet" in page
    assert email in page  # what she typed comes back...
    assert "a calm walk by the river" not in page and 'name="password"' not in page  # ...but no secret


# --- atomicity: a submit and everything it writes, or nothing --------------------------------

@pytest.mark.parametrize("failing", [
    r"^\s*INSERT INTO notifications",   # after the status changes, before the commit
    r"^\s*INSERT INTO audit_events",     # the audit row of the submit
    r"^\s*UPDATE assignments",           # the task's status change
])
def test_a_submit_commits_with_its_status_notification_and_audit_row_or_not_at_all(
        client, people, task, failing):
    login(client, people["client"])
    therapist = people["therapist"]
    before = (count(Notification, user_id=therapist.id), count(AuditEvent, action="reflection_submitted"))
    with database_refuses(failing) as refused:
        response = client.post(f"/tasks/{task.id}", data=form(KEPT, action="submit"))
    assert refused, f"no statement matched {failing}"
    assert response.status_code == 503

    reflection = stored(task)
    db.session.refresh(task)
    assert reflection.status == "draft" and reflection.submitted_at is None
    assert task.status == "open"
    assert (count(Notification, user_id=therapist.id),
            count(AuditEvent, action="reflection_submitted")) == before
    # The words were saved as a draft before the submit began: never lost.
    assert reflection.answers[0] == KEPT

    assert client.post(f"/tasks/{task.id}", data=form(KEPT, action="submit")).status_code == 302
    reflection = stored(task)
    db.session.refresh(task)
    assert reflection.status == "submitted" and task.status == "submitted"
    assert count(Notification, user_id=therapist.id) == before[0] + 1
    assert count(AuditEvent, action="reflection_submitted") == before[1] + 1


# --- a real SQLite write lock -------------------------------------------------------------------

def test_sqlite_write_lock_during_a_save(app, client, people, task, monkeypatch):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock (PostgreSQL is cut by a proxy below)")
    import app.core.database as database
    login(client, people["client"])
    task_id = task.id
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    db.session.remove()
    db.engine.dispose()  # new connections take the short busy timeout
    task = db.session.get(type(task), task_id)

    holder = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        response = client.post(f"/tasks/{task.id}/draft", data=form(KEPT),
                               headers={"Accept": "application/json", "X-Requested-With": "fetch"})
        waited = time.monotonic() - started
        assert response.status_code == 503, response.get_data(as_text=True)[:300]
        assert response.json["message"] == NOT_SAVED
        assert waited >= 0.25  # it waited for the lock before giving up
        page = client.post(f"/tasks/{task.id}", data=form(KEPT, action="submit"))
        assert page.status_code == 503 and kept_fields(page.get_data(as_text=True))["answer_0"] == KEPT
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored(task).answers[0] == "the draft saved before the fault"

    again = client.post(f"/tasks/{task.id}/draft", data=form(KEPT),
                        headers={"Accept": "application/json", "X-Requested-With": "fetch"})
    assert again.status_code == 200 and stored(task).answers[0] == KEPT
    db.session.remove()
    db.engine.dispose()


# --- a real PostgreSQL connection cut ------------------------------------------------------------

@pytest.fixture
def proxied_app(app):
    """A second app on the same PostgreSQL database, reached through a proxy the test can cut."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a network cut needs a networked database (SQLite is locked above instead)")
    url = db.engine.url
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()

    config = {key: value for key, value in app.config.items() if key.isupper()}
    config["SQLALCHEMY_DATABASE_URI"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False)
    proxied = create_app(type("Proxied", (), config))
    proxied.test_client_class = FreshContextClient
    yield proxied, proxy
    proxy.stop()
    with proxied.app_context():
        db.engine.dispose()


def test_postgresql_unreachable_during_a_save_then_back(people, task, proxied_app):
    proxied, proxy = proxied_app
    client = proxied.test_client()
    login(client, people["client"])  # (the test's own session stays on the direct connection)
    proxy.cut()  # the database goes away: open connections die, new ones are refused
    try:
        response = client.post(f"/tasks/{task.id}/draft", data=form(KEPT),
                               headers={"Accept": "application/json", "X-Requested-With": "fetch"})
        assert response.status_code == 503 and response.json["message"] == NOT_SAVED
        page = client.post(f"/tasks/{task.id}", data=form(KEPT, action="submit"))
        assert page.status_code == 503
        assert kept_fields(page.get_data(as_text=True))["answer_0"] == KEPT
        assert client.get("/home").status_code == 503
    finally:
        proxy.restore()
    assert stored(task).answers[0] == "the draft saved before the fault"

    # Back: the next save works without restarting anything (stale connections are replaced).
    again = client.post(f"/tasks/{task.id}/draft", data=form(KEPT),
                        headers={"Accept": "application/json", "X-Requested-With": "fetch"})
    assert again.status_code == 200 and again.json["saved"] is True
    assert stored(task).answers[0] == KEPT
