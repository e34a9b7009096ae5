"""Response headers and the production configuration check."""
import os

from flask import Flask, request
from flask_login import current_user

from config import DEFAULT_DATABASE_URL

SIGN_IN_FLOW = ("/login", "/invitations/", "/reset", "/account/two-factor")
WEAK_KEYS = {"", "dev", "changeme", "change-me", "secret", "please-change-me"}
MIN_SECRET_KEY_LENGTH = 32

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)


def secret_key_problem(key) -> str | None:
    """Why a SECRET_KEY is not fit for production, or None when it is."""
    if not key:
        return "SECRET_KEY is not set"
    if key.strip().lower() in WEAK_KEYS or key.startswith("testing-secret-key"):
        return "SECRET_KEY is a well-known default"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    return None


def check_config(app: Flask) -> None:
    """Refuse to start production with a missing, short or default SECRET_KEY, or without
    ENCRYPTION_KEYS."""
    if app.config.get("ENV_NAME") == "production":
        if app.config.get("SQLALCHEMY_DATABASE_URI") == DEFAULT_DATABASE_URL:
            # Not an empty SQLite file made quietly, with every sign-in then "not saved yet".
            raise RuntimeError("Refusing to start: DATABASE_URL is not set. Set it to the practice's "
                               "database, e.g. postgresql://commonground:…@db.internal:5432/commonground.")
        problem = secret_key_problem(app.config.get("SECRET_KEY"))
        if problem:
            raise RuntimeError(
                f"Refusing to start: {problem}. Set SECRET_KEY to a random string of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        if not (app.config.get("ENCRYPTION_KEYS") or "").strip():
            # A key derived from SECRET_KEY would tie the records to the session-signing key.
            raise RuntimeError(
                "Refusing to start: ENCRYPTION_KEYS is not set. Set it to 'id:base64key' with a "
                "random 32-byte key, e.g. \"k1:$(python -c 'import base64, os; "
                "print(base64.b64encode(os.urandom(32)).decode())')\", and keep it safe: "
                "without it the records cannot be read."
            )


def check_keys_against_data(app: Flask) -> None:
    """Check ENCRYPTION_KEYS against the key check values stored with the data; a server also
    stores those the database lacks (app/core/key_check.py). A production server does not start
    on keys that do not match: each text it saved would be unreadable to a correctly keyed
    server. Elsewhere, and for `flask` commands (so that `flask check-deploy` and
    `flask verify-data` can say what is wrong), the problem is logged and nothing is encrypted
    with those keys. A database that does not answer is left to the readiness check (wsgi.py).
    Not for the test suite, which builds apps on databases in every state and checks itself."""
    if app.config.get("ENV_NAME") == "testing":
        return
    from app.core.key_check import check_at_start

    command = bool(os.environ.get("FLASK_RUN_FROM_CLI"))
    result = check_at_start(app, write=not command)
    if result is None or not result.problem:
        return
    if app.config.get("ENV_NAME") == "production" and not command:
        raise RuntimeError(
            f"Refusing to start: {result.problem}; set ENCRYPTION_KEYS to the keys this database "
            "was written with (`flask --app wsgi verify-data` shows what a setting can read).")


def init_app(app: Flask) -> None:
    """Add security headers to every response."""

    @app.after_request
    def add_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if app.config.get("ENV_NAME") == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        # Anything signed in, and every page of the way in (the sign-in and code pages, a reset
        # or an invitation link): never kept by a browser or a proxy.
        if request.endpoint != "static" and (
            current_user.is_authenticated or request.path.startswith(SIGN_IN_FLOW)
        ):
            response.headers["Cache-Control"] = "no-store"
        return response
