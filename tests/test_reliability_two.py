"""Issue 22 (Reliability II), the server's side: never hang (timeouts for PostgreSQL and Redis,
a partition made with a proxy that drops packets), degrade rather than fail (Redis down: sign-in
still works; /readyz says what is not ready), say what is really wrong (no DATABASE_URL, a
schema behind, a read-only database, a missing table)."""
from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from app.extensions import db, limiter
from app.web.readiness import refuse_to_start_unless_ready
from config import DEFAULT_DATABASE_URL, ProductionConfig, TestingConfig
from tests.conftest import PASSWORD, make_client, make_therapist
from tests.support.dropping_proxy import DroppingProxy

STRONG_KEY = "f3b9c0e27a4d4b1e9c8a7f6e5d4c3b2a1908f7e6d5c4b3a2"
ENCRYPTION_KEYS = "k1:GDyIebseDWNwEACwIyOqHBWZ1iSWlfQeDCSeBvmE910="


def _migrated_sqlite(path) -> str:
    """A fresh SQLite database at the migrations' head, with one client; returns its URL."""
    url = f"sqlite:///{path}"

    class Fresh(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url

    fresh = create_app(Fresh)
    with fresh.app_context():
        upgrade()
        make_client(make_therapist(two_factor=False), email="reader@example.org")
        db.session.remove()
        db.engine.dispose()
    return url


def _app_on(url: str, **settings):
    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url

    for key, value in settings.items():
        setattr(Config, key, value)
    return create_app(Config)


# --- say what is wrong -------------------------------------------------------------------------

def test_production_refuses_to_start_without_a_database_url():
    class Production(ProductionConfig):
        SECRET_KEY = STRONG_KEY
        ENCRYPTION_KEYS = "k1:GDyIebseDWNwEACwIyOqHBWZ1iSWlfQeDCSeBvmE910="
        SQLALCHEMY_DATABASE_URI = DEFAULT_DATABASE_URL

    with pytest.raises(RuntimeError, match="DATABASE_URL is not set"):
        create_app(Production)


def test_production_refuses_to_start_on_a_schema_behind_the_code(tmp_path):
    url = _migrated_sqlite(tmp_path / "behind.sqlite")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0011'"))
    engine.dispose()

    class Production(ProductionConfig):
        SECRET_KEY = STRONG_KEY
        ENCRYPTION_KEYS = ENCRYPTION_KEYS
        SQLALCHEMY_DATABASE_URI = url

    production = create_app(Production)
    with pytest.raises(RuntimeError, match="schema is at 0011"):
        refuse_to_start_unless_ready(production)
    ready = production.test_client().get("/readyz")
    assert ready.status_code == 503 and "0011" in ready.get_json()["problems"]["schema"]
    assert production.test_client().get("/healthz").status_code == 200  # alive, not ready


def test_readyz_answers_ready_on_a_good_setup(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}


def test_a_read_only_database_says_it_is_misconfigured_not_to_retry(tmp_path):
    url = _migrated_sqlite(tmp_path / "ro.sqlite")
    read_only = _app_on(f"sqlite:///file:{tmp_path / 'ro.sqlite'}?mode=ro&uri=true")
    browser = read_only.test_client()
    response = browser.post("/login", data={"email": "reader@example.org", "password": PASSWORD})
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "not set up right" in body and "will be retried" not in body
    autosave = browser.post("/tasks/1/draft", json={"answer_0": "x"},
                            headers={"X-Requested-With": "fetch"})
    assert autosave.status_code in (302, 401, 503)  # not signed in: never a 500
    assert url  # the database itself is untouched


def test_a_missing_table_says_it_is_misconfigured_and_keeps_her_words(tmp_path):
    url = _migrated_sqlite(tmp_path / "missing.sqlite")
    broken = _app_on(url)
    with broken.app_context():
        db.session.execute(sa.text("DROP TABLE audit_events"))
        db.session.commit()
    response = broken.test_client().post("/reset", data={"email": "reader@example.org"})
    assert response.status_code == 503
    assert "not set up right" in response.get_data(as_text=True)


# --- degrade: Redis down ------------------------------------------------------------------------

def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", ["refused", "dropped"])
def test_sign_in_works_with_redis_down_and_readyz_says_so(app, how, caplog):
    proxy = None
    if how == "refused":
        redis_url = f"redis://127.0.0.1:{_closed_port()}/0"
    else:
        proxy = DroppingProxy("127.0.0.1", 6379)
        proxy.drop()
        redis_url = f"redis://127.0.0.1:{proxy.port}/0"
    try:
        degraded = _app_on(str(db.engine.url.render_as_string(hide_password=False)),
                           RATELIMIT_STORAGE_URI=redis_url)
        person = make_client(make_therapist())
        db.session.commit()
        browser = degraded.test_client()
        caplog.set_level(logging.INFO)
        started = time.monotonic()
        signed = browser.post("/login", data={"email": person.email, "password": PASSWORD})
        assert signed.status_code == 302, signed.get_data(as_text=True)[:300]
        assert time.monotonic() - started < 10  # never a hang on Redis
        assert degraded.test_client().post("/reset", data={"email": person.email}).status_code == 302
        ready = degraded.test_client().get("/readyz")
        assert ready.status_code == 503 and "redis" in ready.get_json()["problems"]
        assert degraded.test_client().get("/healthz").status_code == 200
    finally:
        if proxy:
            proxy.close()
        limiter.init_app(app)  # the limiter is one object: give it back to the suite's app


# --- never hang: a partition between the app and PostgreSQL ----------------------------------------

def test_a_partition_from_postgresql_answers_503_within_seconds(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the PostgreSQL timeouts (SQLite is a file: no network to lose)")
    url = db.engine.url
    proxy = DroppingProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        partitioned = _app_on(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
                              DATABASE_CONNECT_TIMEOUT=3, DATABASE_TCP_TIMEOUT_MS=3000)
        browser = partitioned.test_client()
        assert browser.get("/healthz").status_code == 200  # a pooled connection through the proxy
        proxy.drop()
        started = time.monotonic()
        response = browser.get("/healthz")
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and elapsed < 15, (response.status_code, elapsed)
        started = time.monotonic()
        saved = browser.post("/login", data={"email": "someone@example.org", "password": "whatever it is"})
        assert saved.status_code == 503 and time.monotonic() - started < 15
        assert "Not saved yet" in saved.get_data(as_text=True)
        proxy.restore()
        assert browser.get("/healthz").status_code == 200  # and it recovers by itself
    finally:
        proxy.close()


def test_a_statement_that_runs_too_long_is_ended(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's statement_timeout")
    slow = _app_on(db.engine.url.render_as_string(hide_password=False), DATABASE_STATEMENT_TIMEOUT_MS=300)
    with slow.app_context():
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError):
            db.session.execute(sa.text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3
        db.session.rollback()


def test_check_deploy_fails_when_redis_does_not_answer(_app, tmp_path):
    url = _migrated_sqlite(tmp_path / "deploy.sqlite")

    class Production(ProductionConfig):
        SECRET_KEY = STRONG_KEY
        ENCRYPTION_KEYS = "k1:GDyIebseDWNwEACwIyOqHBWZ1iSWlfQeDCSeBvmE910="
        SQLALCHEMY_DATABASE_URI = url
        RATELIMIT_STORAGE_URI = f"redis://127.0.0.1:{_closed_port()}/0"

    try:
        result = create_app(Production).test_cli_runner().invoke(args=["check-deploy"])
    finally:
        limiter.init_app(_app)  # the limiter is one object: give it back to the suite's app
    assert result.exit_code != 0
    assert any(line.startswith("FAIL") and "throttling storage" in line and "does not answer" in line
               for line in result.output.splitlines()), result.output
