"""Friendly error pages. A 500 shows an error id to quote, never a traceback."""
import logging
import uuid

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.extensions import db

log = logging.getLogger("common_ground.errors")

MESSAGES = {
    400: ("Something in that request was not right", "Please go back and try again."),
    403: ("This page is not for your account", "If you think you should see it, ask your therapist or practice."),
    404: ("We could not find that page", "It may have moved, or the link may be incomplete."),
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
    def database_unavailable(exc):
        db.session.rollback()
        error_id = uuid.uuid4().hex[:12]
        log.error("database error %s on %s %s: %s", error_id, request.method, request.path, exc)
        return _render(503, "We could not reach the database just now",
                       "Nothing has been lost. Please try again in a moment.", error_id)

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
