"""Friendly error pages. A 500 shows an error id to quote, never a traceback."""
import logging
import uuid

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.extensions import db, login_manager

log = logging.getLogger("common_ground.errors")

MESSAGES = {
    400: ("Something in that request was not right", "Please go back and try again."),
    403: ("This page is not for your account", "If you think you should see it, ask your therapist or practice."),
    404: ("We could not find that page",
          "It may have moved or been removed, or the link may be incomplete."),
    405: ("That action is not available here", "Please go back and use the buttons on the page."),
    410: ("This link no longer works", "Please ask for a new one."),
    413: ("That was too much to send at once", "Please shorten the text and try again. Nothing you had saved is lost."),
    429: ("Too many attempts", "Please wait a little and try again."),
}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


def _render(status: int, title: str, detail: str, error_id: str | None = None):
    if _wants_json():
        body = {"error": title, "detail": detail}
        if error_id:
            body["error_id"] = error_id
        return jsonify(body), status
    return render_template("errors/error.html", status=status, title=title, detail=detail,
                           error_id=error_id), status


NOT_SAVED = "Not saved yet — your text is still here and will be retried."
RETRY_AFTER_SECONDS = 5


SECRET_FIELDS = ("password", "code", "token")  # never written back into a page


def _may_keep(name: str) -> bool:
    """Fields the "not saved yet" page carries again: all but the CSRF token (a fresh one is
    added) and secrets (passwords, sign-in codes), which she types again."""
    return name != "csrf_token" and not any(word in name.lower() for word in SECRET_FIELDS)


def _forget_failed_work() -> None:
    """Roll back whatever the failed request had begun; a dead connection may refuse even that
    (the pool then replaces it: pool_pre_ping checks every connection before it is reused)."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; dropping the session is enough
        pass
    db.session.remove()
    # What was loaded is expired and detached now: the page is drawn without her account (as
    # if signed out) rather than ask the database again from the template. Her session cookie
    # is untouched, so the retry is sent as her.
    g._login_user = login_manager.anonymous_user()


def not_saved_yet(exc):
    """The database could not be reached or refused a write (locked, restarting, gone).
    Nothing the person sent is dropped: an autosave answers JSON that the page's script retries;
    a posted form comes back with everything she sent, and tries again by itself."""
    _forget_failed_work()
    error_id = uuid.uuid4().hex[:12]
    # The driver's message only: statements' parameters are hidden (hide_parameters).
    log.error("database unavailable %s on %s %s: %s: %s", error_id, request.method, request.path,
              type(exc).__name__, str(getattr(exc, "orig", "") or "")[:200])
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _wants_json() or request.headers.get("X-Requested-With") == "fetch":
        return jsonify(saved=False, retry=True, error="database unavailable", message=NOT_SAVED,
                       error_id=error_id), 503, headers
    if request.method != "POST":
        return render_template("errors/unavailable.html", error_id=error_id,
                               retry_after=RETRY_AFTER_SECONDS), 503, headers
    fields = [(name, value) for name, values in request.form.lists() if _may_keep(name)
              for value in values]
    attempt = min(request.form.get("retry_attempt", 0, type=int) + 1, 100)
    return render_template("errors/not_saved.html", fields=fields, attempt=attempt,
                           action=request.full_path.rstrip("?"), error_id=error_id,
                           message=NOT_SAVED), 503, headers


MISCONFIGURED = ("Not saved — Common Ground is not set up right at the moment, and trying again "
                 "will not help until it is mended. Keep a copy of your text and tell your practice.")
# What a database says when the fault is in how it is set up, not a passing one: retrying
# cannot mend a read-only file, a missing table or a refused permission.
LASTING_FAULTS = ("readonly database", "read-only", "no such table", "no such column", "does not exist",
                  "permission denied", "unable to open database file", "malformed")


def is_lasting(exc) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(words in text for words in LASTING_FAULTS)


def misconfigured(exc):
    """A database fault that retrying cannot mend: said plainly, her words shown to copy (a
    form's long fields), never 'will be retried'."""
    _forget_failed_work()
    error_id = uuid.uuid4().hex[:12]
    log.error("database misconfigured %s on %s %s: %s: %s", error_id, request.method, request.path,
              type(exc).__name__, str(getattr(exc, "orig", "") or "")[:200])
    if _wants_json() or request.headers.get("X-Requested-With") == "fetch":
        return jsonify(saved=False, retry=False, error="service misconfigured", message=MISCONFIGURED,
                       error_id=error_id), 503
    kept = [value for name, values in request.form.lists() if _may_keep(name)
            for value in values if len(value) > 60 or "\n" in value]
    return render_template("errors/misconfigured.html", message=MISCONFIGURED, kept=kept,
                           error_id=error_id), 503


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _render(400, "This form had expired",
                       "For your safety, forms expire. Please go back, reload the page and send it again. "
                       "If you were writing, your saved draft is still there.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        title, detail = MESSAGES.get(exc.code, (exc.name, exc.description or ""))
        return _render(exc.code or 500, title, detail)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc):
        return misconfigured(exc) if is_lasting(exc) else not_saved_yet(exc)

    @app.errorhandler(ProgrammingError)
    @app.errorhandler(InternalError)
    def database_refused(exc):
        # A missing table or a read-only transaction (PostgreSQL says so with these); anything
        # else of these kinds is a bug: the page with an error id.
        return misconfigured(exc) if is_lasting(exc) else unexpected_error(exc)

    @app.errorhandler(Exception)
    def unexpected_error(exc):
        error_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", error_id, request.method, request.path)
        try:
            db.session.rollback()
        except Exception:  # the session may itself be broken; the page must still render
            pass
        return _render(500, "Something went wrong on our side",
                       "We have noted it. Please try again; if it keeps happening, tell your practice "
                       "and quote the error id below.", error_id)
