"""`flask check-deploy`: the running configuration, checked as production needs it.

Run it where the app will run, with the production environment:
    COMMON_GROUND_ENV=production flask --app wsgi check-deploy
Each check prints OK, WARN or FAIL; any FAIL ends the command with exit status 1 and a loud
message, so that a deploy script stops there. Secrets are never printed, only their problems.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.extensions import db
from app.web.security import secret_key_problem

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MAX_REASONABLE_REQUEST = 32 * 1024 * 1024  # the largest form is ~8 MiB (see config.py)
HOST_NAME = re.compile(r"^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


@dataclass(frozen=True)
class Check:
    status: str
    name: str
    detail: str


def _flag(config, key: str, want: bool, name: str, why: str, default=None) -> Check:
    value = config.get(key, default)
    if bool(value) == want:
        return Check(OK, name, f"{key} is {'on' if want else 'off'}")
    return Check(FAIL, name, f"{key} must be {'on' if want else 'off'}: {why}")


def _size(value) -> str:
    return f"{value / (1024 * 1024):g} MiB"


def _trusted_hosts(hosts) -> Check:
    if not hosts:
        return Check(FAIL, "trusted hosts", "TRUSTED_HOSTS is not set: set it to the practice's "
                     "host name(s), comma-separated (links in emails are built from the Host header)")
    if isinstance(hosts, str):
        hosts = [hosts]
    bad = [h for h in hosts if not isinstance(h, str) or not HOST_NAME.match(h)]
    if bad:
        return Check(FAIL, "trusted hosts", f"TRUSTED_HOSTS holds entries that are not host names: {bad!r}")
    return Check(OK, "trusted hosts", ", ".join(hosts))


def _request_size(config) -> list[Check]:
    checks = []
    limit = config.get("MAX_CONTENT_LENGTH")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        checks.append(Check(FAIL, "request size limit", "MAX_CONTENT_LENGTH is not set: any request "
                            "body would be read"))
    elif limit > MAX_REASONABLE_REQUEST:
        checks.append(Check(FAIL, "request size limit", f"MAX_CONTENT_LENGTH is {_size(limit)}, more "
                            f"than the {_size(MAX_REASONABLE_REQUEST)} any page of this app needs"))
    else:
        checks.append(Check(OK, "request size limit", f"MAX_CONTENT_LENGTH is {_size(limit)}"))
    form = config.get("MAX_FORM_MEMORY_SIZE")
    if not isinstance(form, int) or isinstance(form, bool) or form <= 0 or \
            (isinstance(limit, int) and limit > 0 and form > limit):
        checks.append(Check(FAIL, "form size limit", "MAX_FORM_MEMORY_SIZE must be set, and no larger "
                            "than MAX_CONTENT_LENGTH"))
    else:
        checks.append(Check(OK, "form size limit", f"MAX_FORM_MEMORY_SIZE is {_size(form)}"))
    return checks


def _database(uri) -> Check:
    try:
        backend = make_url(uri).get_backend_name() if uri else ""
    except ArgumentError:
        return Check(FAIL, "database", "SQLALCHEMY_DATABASE_URI (DATABASE_URL) is not a database URL")
    if not backend:
        return Check(FAIL, "database", "DATABASE_URL is not set")
    if backend == "sqlite":
        return Check(WARN, "database", "SQLite: fine for one small practice on one machine; use "
                     "PostgreSQL (DATABASE_URL=postgresql://...) for more than one worker or server")
    return Check(OK, "database", backend)  # never the URL itself: it may hold a password


def _encryption(keys) -> Check:
    if not keys or not str(keys).strip():
        return Check(WARN, "encryption at rest", "ENCRYPTION_KEYS is not set: free text would be "
                     "encrypted with a key derived from SECRET_KEY, or not at all")
    try:
        from app.core.crypto import EncryptionConfigError, parse_keys
    except ImportError:  # encryption at rest not installed in this build
        return Check(OK, "encryption at rest", "ENCRYPTION_KEYS is set")
    try:
        ring = parse_keys(str(keys))
    except EncryptionConfigError as exc:  # the message names key ids, never key material
        return Check(FAIL, "encryption at rest", str(exc))
    count = len(getattr(ring, "keys", ())) or 1
    return Check(OK, "encryption at rest", f"{count} key(s); new text uses the first")


def _keys_against_data(app: Flask) -> list[Check]:
    """ENCRYPTION_KEYS against the key check values stored with the data (nothing is written)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.core.crypto import EncryptionConfigError, keyring
    from app.core.key_check import check_keys
    from app.extensions import db

    name = "keys against the data"
    try:
        ring = keyring(app.config)
    except EncryptionConfigError:
        return []  # "encryption at rest" fails already, with the reason
    try:
        result = check_keys(db.engine, db.metadata, ring)
    except SQLAlchemyError as exc:
        return [Check(FAIL, name, f"the database does not answer ({type(exc).__name__}): the "
                      "keys cannot be checked against the data")]
    if not result.checked:
        return [Check(WARN, name, "the database has no key_checks table yet: run "
                      "`flask --app wsgi db upgrade`, then check again")]
    if result.problem:
        return [Check(FAIL, name, f"{result.problem}: a server with these keys writes text no "
                      "correctly keyed server can read (`flask --app wsgi verify-data` shows "
                      "what they can read)")]
    if result.verified:
        return [Check(OK, name, "ENCRYPTION_KEYS opens what is stored under "
                      f"{', '.join(map(repr, result.verified))}")]
    return [Check(OK, name, "no check value stored yet (nothing encrypted here): the server "
                  "stores one at its first start")]


def _mail(config) -> list[Check]:
    checks = []
    if config.get("MAIL_SERVER"):
        checks.append(Check(OK, "mail", "MAIL_SERVER is set"))
    else:
        checks.append(Check(WARN, "mail", "MAIL_SERVER is not set: invitations and password resets "
                            "are not emailed (the therapist copies invitation links by hand)"))
    if config.get("MAIL_LOG_BODIES"):
        checks.append(Check(FAIL, "mail in logs", "MAIL_LOG_BODIES is on: invitation and reset links "
                            "(tokens) would be written to the log"))
    return checks


def _outbox(app) -> list[Check]:
    """Who sends the outbox, and whether anything has waited long (is the worker running?)."""
    config = app.config
    checks = []
    if config.get("OUTBOX_DELIVERY") == "thread":
        checks.append(Check(WARN, "outbox", "OUTBOX_DELIVERY=thread: each web process sends from a "
                            "thread; run `flask outbox-worker` beside gunicorn instead (deploy/)"))
    elif config.get("OUTBOX_REDIS_URL"):
        checks.append(Check(OK, "outbox", "sent by `flask outbox-worker`, woken through Redis"))
    else:
        checks.append(Check(OK, "outbox", "sent by `flask outbox-worker`, polling every "
                            f"{config.get('OUTBOX_POLL_SECONDS')} s (set OUTBOX_REDIS_URL to wake it at once)"))
    from app.notifications.push import push_problem
    problem = push_problem()
    checks.append(Check(WARN, "push", f"push notifications are off: {problem}") if problem
                  else Check(OK, "push", "VAPID keys set: people can turn push on for their devices"))
    from app.notifications.outbox import waiting_since
    try:
        stuck = waiting_since(timedelta(minutes=15))
    except sa.exc.SQLAlchemyError:
        return checks  # the database check above says what is wrong
    finally:
        db.session.rollback()
    if stuck:
        checks.append(Check(WARN, "outbox waiting", f"{stuck} email(s) or push(es) have waited over 15 "
                            "minutes: is `flask outbox-worker` running, and does the mail server answer?"))
    return checks


def _links(config) -> Check:
    base = config.get("SERVER_BASE_URL")
    if base and not str(base).lower().startswith("https://"):
        return Check(FAIL, "links in emails", "SERVER_BASE_URL must start with https://")
    if base:
        return Check(OK, "links in emails", f"built on {base}")
    if config.get("PREFERRED_URL_SCHEME") != "https":
        return Check(WARN, "links in emails", "PREFERRED_URL_SCHEME is not https and SERVER_BASE_URL "
                     "is not set: emailed links may start with http://")
    return Check(WARN, "links in emails", "SERVER_BASE_URL is not set: emailed links (and reminders "
                 "sent from cron) use the request's host")


def _throttling(config) -> list[Check]:
    checks = [_flag(config, "RATELIMIT_ENABLED", True, "login throttling",
                    "sign-in attempts must be limited", default=True)]
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if storage.startswith("memory://"):
        checks.append(Check(WARN, "throttling storage", "limits are counted per worker process; set "
                            "RATELIMIT_STORAGE_URI=redis://... when running more than one"))
    else:
        checks.append(_storage_answers(storage.split("://", 1)[0]))
    return checks


def _storage_answers(scheme: str) -> Check:
    """The shared store (Redis) must answer now, not only be named."""
    from app.web.readiness import shared_store_answers

    if shared_store_answers(current_app):
        return Check(OK, "throttling storage", f"{scheme} answers")
    return Check(FAIL, "throttling storage", f"{scheme} (RATELIMIT_STORAGE_URI) does not answer: sign-in "
                 "would be throttled per process only; start it or fix the address")


def _proxy(config) -> Check:
    if config.get("PROXY_FIX_X_FOR"):
        return Check(OK, "client addresses", f"trusting {config['PROXY_FIX_X_FOR']} proxy hop(s)")
    return Check(WARN, "client addresses", "PROXY_FIX_X_FOR is 0: behind a reverse proxy, the audit "
                 "trail and throttling would see the proxy's address instead of the visitor's")


def run_checks(app: Flask) -> list[Check]:
    """Every check, in the order printed."""
    config = app.config
    env = config.get("ENV_NAME")
    checks = [
        Check(OK, "environment", "production") if env == "production" else
        Check(FAIL, "environment", f"running the {env!r} configuration: set COMMON_GROUND_ENV=production"),
        Check(FAIL, "debug", "DEBUG is on: the debugger can run code from the browser")
        if (app.debug or config.get("DEBUG")) else Check(OK, "debug", "DEBUG is off"),
        _flag(config, "TESTING", False, "testing mode", "it relaxes error handling and checks"),
    ]
    problem = secret_key_problem(config.get("SECRET_KEY"))
    checks.append(Check(FAIL, "secret key", problem) if problem else
                  Check(OK, "secret key", "SECRET_KEY is long and not a known default"))
    checks += [
        _flag(config, "SESSION_COOKIE_SECURE", True, "session cookie over HTTPS only",
              "the cookie would travel over plain HTTP"),
        _flag(config, "REMEMBER_COOKIE_SECURE", True, "remember-me cookie over HTTPS only",
              "the cookie would travel over plain HTTP"),
        _flag(config, "SESSION_COOKIE_HTTPONLY", True, "session cookie hidden from scripts",
              "a script on the page could read it"),
        _flag(config, "REMEMBER_COOKIE_HTTPONLY", True, "remember-me cookie hidden from scripts",
              "a script on the page could read it"),
    ]
    samesite = config.get("SESSION_COOKIE_SAMESITE")
    checks.append(Check(OK, "session cookie same-site", str(samesite)) if samesite in ("Lax", "Strict")
                  else Check(FAIL, "session cookie same-site",
                             f"SESSION_COOKIE_SAMESITE is {samesite!r}; use 'Lax' or 'Strict'"))
    checks.append(_flag(config, "WTF_CSRF_ENABLED", True, "CSRF protection",
                        "forms could be posted from other sites", default=True))
    checks.append(_trusted_hosts(config.get("TRUSTED_HOSTS")))
    checks += _request_size(config)
    checks.append(_flag(config, "ALLOW_DEMO_DATA", False, "demo data refused",
                        "seed-demo would add accounts with published passwords"))
    checks.append(_database(config.get("SQLALCHEMY_DATABASE_URI")))
    checks.append(_encryption(config.get("ENCRYPTION_KEYS")))
    checks += _keys_against_data(app)
    checks += _mail(config)
    checks += _outbox(app)
    checks.append(_links(config))
    checks += _throttling(config)
    checks.append(_proxy(config))
    return checks


@click.command("check-deploy")
@with_appcontext
def check_deploy():
    """Check this configuration for production; exits 1 when any check fails."""
    checks = run_checks(current_app)
    width = max(len(c.name) for c in checks)
    colours = {OK: "green", WARN: "yellow", FAIL: "red"}
    for check in checks:
        click.echo(click.style(f"{check.status:<4}", fg=colours[check.status], bold=True)
                   + f"  {check.name:<{width}}  {check.detail}")
    failed = [c for c in checks if c.status == FAIL]
    warnings = sum(c.status == WARN for c in checks)
    if failed:
        click.secho(f"\ncheck-deploy: {len(failed)} check(s) FAILED. This configuration must not "
                    "serve real records: fix every FAIL above, then run check-deploy again.",
                    fg="red", bold=True, err=True)
        raise SystemExit(1)
    click.echo(f"\ncheck-deploy: all {len(checks)} checks passed"
               + (f" ({warnings} warning(s) above)." if warnings else "."))
