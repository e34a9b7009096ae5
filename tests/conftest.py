"""Fixtures: the app on a migrated database (SQLite, or PostgreSQL via TEST_DATABASE_URL),
a client, a real SMTP server, a login helper and builders."""
from __future__ import annotations

import itertools
import os
import re
import socket
import threading
from email import message_from_bytes
from email.message import Message

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app import create_app
from app.core.passwords import hash_password
from app.extensions import db
from app.models import ROLE_CLIENT, ROLE_THERAPIST, User, utcnow
from config import TestingConfig, normalise_database_url

PASSWORD = "a calm walk by the river"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # every test therapist's two-factor secret
_counter = itertools.count(1)


def _database_url(tmp_dir) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{tmp_dir / 'test.sqlite'}"


def pytest_report_header(config):
    url = os.environ.get("TEST_DATABASE_URL")
    return f"database backend: {'postgresql' if url else 'sqlite'}"


def _reset_schema(engine) -> None:
    """Start the session from an empty database; the schema then comes from the migrations.
    On PostgreSQL the test database also stops waiting for each commit to reach the disk
    (synchronous_commit off, for every later connection to it, the servers the tests start
    included): a crash could lose the last commits of a database that is thrown away anyway,
    and the suite commits tens of thousands of times."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
            conn.execute(sa.text(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', "
                "current_database()); END $$"))
        engine.dispose()  # the next connections start with the setting


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production, instead of reusing the
    test's context (which would share `g`, the signed-in user and the database session)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    url = _database_url(tmp_path_factory.mktemp("db"))

    class SuiteConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url

    application = create_app(SuiteConfig)
    application.test_client_class = FreshContextClient
    with application.app_context():
        try:
            _reset_schema(db.engine)
            db.session.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            pytest.exit(f"TEST_DATABASE_URL is set but the database does not answer: {exc}", returncode=3)
        from flask_migrate import upgrade
        upgrade()
        db.session.remove()
    return application


def _clean_tables() -> None:
    """Empty every table (rows that migrations put there, like the built-in library, stay)."""
    keep = _app_kept_rows()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name == "audit_events":
                _empty_audit_trail(conn)
                continue
            condition = keep.get(table.name)
            statement = table.delete()
            if condition is not None:
                statement = statement.where(sa.not_(condition))
            conn.execute(statement)


def _empty_audit_trail(conn) -> None:
    """Empty audit_events, which the database keeps append-only (migration 0013: its triggers
    refuse DELETE, and TRUNCATE on PostgreSQL). Only here, between tests, are the triggers lifted,
    within this one transaction: on PostgreSQL by the replica role of a superuser (or disabled
    where the test role is not one), on SQLite dropped and made again from their own definition
    (it cannot disable a trigger). Either way they are back at commit."""
    if not conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM audit_events)")).scalar():
        return
    if conn.dialect.name == "postgresql":
        if conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
            # A superuser (as on CI) lifts user triggers for this transaction alone, with no DDL:
            # no lock on the table, no catalog change for every other connection to reload.
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text("DELETE FROM audit_events"))
            conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
            return
        # ALTER TABLE waits for any open transaction that wrote to the table: fail, never hang.
        conn.execute(sa.text("SET LOCAL lock_timeout = '60s'"))
        conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        conn.execute(sa.text("DELETE FROM audit_events"))
        conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        return
    triggers = conn.execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")).all()
    for name, _ in triggers:
        conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
    conn.execute(sa.text("DELETE FROM audit_events"))
    for _, sql in triggers:
        conn.exec_driver_sql(sql)


def _app_kept_rows() -> dict:
    keep = {}
    tables = db.metadata.tables
    if "exercises" in tables:
        keep["exercises"] = tables["exercises"].c.built_in.is_(True)
    return keep


@pytest.fixture
def app(_app):
    """The application with an empty database and a pushed app context."""
    from app.notifications.deliverer import wait_until_delivered

    saved = dict(_app.config)
    with _app.app_context():
        _clean_tables()
        yield _app
        db.session.remove()
    wait_until_delivered()  # the outbox's thread is done with this test's emails before the next
    _app.config.clear()
    _app.config.update(saved)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf_app(app):
    """The app with CSRF protection on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def without_form_keys(html: str) -> str:
    """A page as two renderings are compared: each form's one-time key (app/core/once.py) is new
    at every rendering, by design."""
    return re.sub(r'(<input[^>]*name="(?:[\w-]+-)?once"[^>]*value=")[^"]*"', r'\1"', html)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


# --- builders --------------------------------------------------------------------------------

def make_therapist(name: str = "Test Therapist", email: str | None = None, two_factor: bool = True,
                   **fields) -> User:
    """A therapist; with two-factor sign-in set up (as it is for every therapist) unless told not."""
    n = next(_counter)
    if two_factor:
        fields.setdefault("totp_secret", TOTP_SECRET)
        fields.setdefault("totp_enabled_at", utcnow())
    user = User(email=email or f"therapist{n}@example.org", name=f"{name} {n}",
                role=ROLE_THERAPIST, password_hash=hash_password(PASSWORD), **fields)
    db.session.add(user)
    db.session.commit()
    return user


def make_client(therapist: User, name: str = "Test Client", email: str | None = None,
                **fields) -> User:
    n = next(_counter)
    user = User(email=email or f"client{n}@example.org", name=f"{name} {n}", role=ROLE_CLIENT,
                therapist_id=therapist.id, password_hash=hash_password(PASSWORD), **fields)
    db.session.add(user)
    db.session.commit()
    return user


def login(client, user: User, password: str = PASSWORD, remember: bool = False):
    """Sign in through the real login form; returns the response."""
    data = {"email": user.email, "password": password}
    if remember:
        data["remember"] = "y"
    csrf = client.application.config.get("WTF_CSRF_ENABLED")
    if csrf:
        data["csrf_token"] = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data=data)
    assert response.status_code == 302, f"login failed for {user.email}"
    if response.location.endswith("/login/verify"):
        step = {"code": fresh_totp_code(user)}
        if csrf:
            step["csrf_token"] = csrf_token_from(client.get("/login/verify").get_data(as_text=True))
        response = client.post("/login/verify", data=step)
        assert response.status_code == 302, f"two-factor step failed for {user.email}"
    return response


def fresh_totp_code(user: User) -> str:
    """The current code, usable again: each code works once, so the builder forgets the last
    step it accepted (a test may sign the same person in several times within 30 seconds)."""
    import pyotp

    db.session.execute(sa.update(User).where(User.id == user.id).values(totp_last_step=None))
    db.session.commit()
    return pyotp.TOTP(user.totp_secret).now()


@pytest.fixture
def people(app):
    """A small practice: two therapists, each with two clients."""
    t1 = make_therapist("Ruth")
    t2 = make_therapist("Sam")
    return {
        "therapist": t1,
        "client": make_client(t1, "Maria"),
        "other_client_same_therapist": make_client(t1, "Elena"),
        "other_therapist": t2,
        "other_client": make_client(t2, "Priya"),
    }


# --- a real SMTP server on localhost ---------------------------------------------------------

class Mailbox:
    """Messages received by the local SMTP server, parsed."""

    def __init__(self):
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    @property
    def messages(self) -> list[Message]:
        """Everything received, once the outbox's delivery thread has sent what is due."""
        from app.notifications.deliverer import wait_until_delivered

        assert wait_until_delivered(), "the outbox did not send its emails within 10 seconds"
        return self._messages

    def add(self, raw: bytes) -> None:
        with self._lock:
            self._messages.append(message_from_bytes(raw))

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    @staticmethod
    def body(message: Message) -> str:
        return message.get_payload(decode=True).decode()

    @staticmethod
    def links(message: Message) -> list[str]:
        return re.findall(r"https?://\S+", Mailbox.body(message))


@pytest.fixture(scope="session")
def _smtp_server():
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            mailbox.add(envelope.original_content or envelope.content)
            return "250 Message accepted for delivery"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(app, _smtp_server):
    """Point the app at the local SMTP server; the mailbox starts empty."""
    box, port = _smtp_server
    box.messages.clear()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    return box
