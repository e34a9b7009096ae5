"""What reaches the logs: never a password, a token or anything a client wrote.

Three leaks are closed here (the rest is the habit of logging ids, never content):
- request lines logged by the development server (and by gunicorn, when its access log is on)
  carry the one-time tokens of invitation and password-reset links in their paths;
- SQL logging that a DEBUG root level would switch on logs statements and fetched rows, which
  hold reflections and notes (the engine also hides bound parameters: see config.py);
- emails written to the log when no mail server is set (see MAIL_LOG_BODIES in app/mail.py).
"""
from __future__ import annotations

import logging
import re

from flask import Flask

# Paths whose last segment is a secret: /reset/<token>, /invitations/accept/<token>, and a
# therapist's calendar address /calendar/<token>.ics (fetched by her calendar every hour or so).
TOKEN_PATH = re.compile(r"(/reset/|/invitations/accept/|(?<!/account)/calendar/)[^\s\"'?#/]+")
REDACTED = "[redacted]"
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access")
QUIET_LOGGERS = ("sqlalchemy",)


def redact(text: str) -> str:
    """The text with the tokens in link paths replaced."""
    return TOKEN_PATH.sub(lambda m: m.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrite a request log line so the token in its path never reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactTokens()


def init_app(app: Flask) -> None:
    """Install the redaction filter and keep SQL out of the logs unless asked for by name."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # A DEBUG root level (LOG_LEVEL=DEBUG, a test's caplog) would otherwise make SQLAlchemy echo
    # every statement and row. SQLALCHEMY_ECHO still works: it sets the engine's own logger.
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
