"""The front door, error pages, security headers, configuration and database settings."""
from __future__ import annotations

import html
import logging

import pytest
import sqlalchemy as sa

from app import create_app
from app.core import database
from app.core.passwords import hash_password
from app.extensions import db
from app.models import ROLE_CLIENT, User
from config import ProductionConfig, normalise_database_url
from tests.conftest import login, make_client, make_therapist


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- health and errors -----------------------------------------------------------------------

def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_unknown_url_shows_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    body = page(response)
    assert "We could not find that page" in body
    assert "Go to my home page" in body
    assert "Werkzeug" not in body and "Traceback" not in body


def test_unknown_url_answers_json_to_json_clients(client):
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"] == "We could not find that page"


def test_crash_shows_a_500_page_with_an_error_id_and_no_traceback(app, client, monkeypatch, caplog):
    person = make_client(make_therapist())
    login(client, person)

    def broken():
        raise RuntimeError("secret internal detail 4711")

    monkeypatch.setitem(app.view_functions, "homework.home", broken)
    # migrations/env.py's fileConfig() disables loggers that existed before the in-process
    # `upgrade()` of the test session; a production web process never runs it, so re-enable.
    monkeypatch.setattr(logging.getLogger("common_ground.errors"), "disabled", False)
    response = client.get("/home")
    assert response.status_code == 500
    body = page(response)
    assert "Something went wrong on our side" in body
    assert "Error id" in body
    assert "secret internal detail" not in body
    assert "Traceback" not in body and "RuntimeError" not in body and 'File "' not in body
    # The id shown is the one logged with the traceback, so the practice can find it.
    error_id = body.split("Error id: <code>", 1)[1].split("</code>", 1)[0]
    assert len(error_id) == 12
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback goes to the log only


def test_crash_leaves_the_app_working(app, client, monkeypatch):
    person = make_client(make_therapist())
    login(client, person)
    original = app.view_functions["homework.home"]
    monkeypatch.setitem(app.view_functions, "homework.home", lambda: 1 / 0)
    assert client.get("/home").status_code == 500
    monkeypatch.setitem(app.view_functions, "homework.home", original)
    assert client.get("/home").status_code == 200


# --- security headers ------------------------------------------------------------------------

def test_security_headers_on_every_page(client):
    for path in ("/login", "/no/such/page", "/healthz"):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def test_signed_in_pages_are_not_cached(app, client):
    therapist = make_therapist()
    login(client, therapist)
    for path in ("/caseload", "/account/password", "/invitations/new"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_client_home_is_not_cached(app, client):
    login(client, make_client(make_therapist()))
    assert client.get("/home").headers["Cache-Control"] == "no-store"


# --- the front door --------------------------------------------------------------------------

def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.location == "/login"
    for path in ("/caseload", "/home"):
        assert client.get(path).location.startswith("/login"), path


def test_therapist_is_sent_to_her_caseload(app, client):
    login(client, make_therapist())
    assert client.get("/").location == "/caseload"
    assert client.get("/home").status_code == 403


def test_client_is_sent_to_her_home(app, client):
    login(client, make_client(make_therapist()))
    assert client.get("/").location == "/home"
    assert client.get("/caseload").status_code == 403


def test_client_home_shows_the_crisis_text(app, client):
    app.config["CRISIS_TEXT"] = "Call the test crisis line on 0800 000 111."
    login(client, make_client(make_therapist()))
    response = client.get("/home")
    assert response.status_code == 200
    assert "Call the test crisis line on 0800 000 111." in page(response)


def test_default_crisis_text_names_emergency_numbers(app, client):
    login(client, make_client(make_therapist()))
    body = page(client.get("/home"))
    assert app.config["CRISIS_TEXT"] in body
    assert "not an emergency service" in body


def test_signed_in_login_page_sends_home(app, client):
    login(client, make_therapist())
    assert client.get("/login").location == "/"


# --- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", [None, "", "short-key", "changeme", "x" * 31,
                                 "testing-secret-key-not-for-production-0123456789"])
def test_production_refuses_a_missing_short_or_default_secret_key(key, tmp_path):
    class Production(ProductionConfig):
        SECRET_KEY = key
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'prod.sqlite'}"

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Production)


def test_production_starts_with_a_strong_secret_key(tmp_path):
    class Production(ProductionConfig):
        SECRET_KEY = "f3b9c0e27a4d4b1e9c8a7f6e5d4c3b2a1908f7e6d5c4b3a2"
        ENCRYPTION_KEYS = "k1:GDyIebseDWNwEACwIyOqHBWZ1iSWlfQeDCSeBvmE910="  # production needs one
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'prod.sqlite'}"

    production = create_app(Production)
    assert production.config["ALLOW_DEMO_DATA"] is False
    response = production.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("given, expected", [
    ("postgresql://u:p@db:5432/cg", "postgresql+psycopg://u:p@db:5432/cg"),
    ("postgres://u:p@db/cg", "postgresql+psycopg://u:p@db/cg"),
    ("postgresql+psycopg://u@db/cg", "postgresql+psycopg://u@db/cg"),
    ("sqlite:///instance/x.sqlite", "sqlite:///instance/x.sqlite"),
])
def test_normalise_database_url(given, expected):
    assert normalise_database_url(given) == expected


# --- database settings -----------------------------------------------------------------------

def test_sqlite_connections_have_foreign_keys_wal_and_busy_timeout(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only apply to SQLite")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar().lower() == "wal"
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == database.SQLITE_BUSY_TIMEOUT_MS


def test_foreign_keys_are_enforced(app):
    db.session.add(User(email="orphan@example.org", name="Orphan", role=ROLE_CLIENT,
                        therapist_id=987654, password_hash=hash_password("x" * 12)))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
