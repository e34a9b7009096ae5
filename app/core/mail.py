"""Outgoing email: real SMTP when MAIL_SERVER is set, otherwise written to the log."""
from __future__ import annotations

import atexit
import logging
import queue
import smtplib
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

log = logging.getLogger("common_ground.mail")


def send_email(to: str, subject: str, body: str) -> None:
    """Send one plain-text email. Raises smtplib.SMTPException / OSError when delivery fails."""
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="common-ground")
    message.set_content(body)

    if not cfg.get("MAIL_SERVER"):
        if cfg.get("MAIL_LOG_BODIES"):  # development only: the body holds links with tokens
            log.info("Email (not sent: MAIL_SERVER is unset)\nTo: %s\nSubject: %s\n\n%s", to, subject, body)
        else:
            log.warning("Email to %s not sent (MAIL_SERVER is unset): %s", to, subject)
        return

    smtp_class = smtplib.SMTP_SSL if cfg.get("MAIL_USE_SSL") else smtplib.SMTP
    with smtp_class(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg["MAIL_TIMEOUT"]) as smtp:
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls()
        if cfg.get("MAIL_USERNAME"):
            smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)
    log.info("Email sent to %s: %s", to, subject)


def try_send_email(to: str, subject: str, body: str) -> bool:
    """Send, and report failure as False (logged) instead of raising."""
    try:
        send_email(to, subject, body)
        return True
    except (smtplib.SMTPException, OSError):
        log.exception("Could not send email to %s", to)
        return False


# --- sent after the response -----------------------------------------------------------------
# Emails whose sending would otherwise tell something by how long a request takes (a reset link
# or a lock notice goes only to an address that has an account) are queued and sent by one
# background thread per process. A stand-in for the outbox of issue 20: an email still queued
# when the process dies is lost (the person can ask again).

_queue: queue.Queue = queue.Queue()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()


def send_later(to: str, subject: str, body: str) -> None:
    """Queue one email; it is sent after the request, never inside it."""
    global _worker
    _queue.put((current_app._get_current_object(), to, subject, body))
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_send_queued, name="common-ground-mail", daemon=True)
            _worker.start()


def _send_queued() -> None:
    while True:
        app, to, subject, body = _queue.get()
        try:
            with app.app_context():
                try_send_email(to, subject, body)
        except Exception:  # never let one email stop the ones after it
            log.exception("Could not send a queued email")
        finally:
            _queue.task_done()


def wait_until_sent(timeout: float = 10.0) -> bool:
    """Block until every queued email has been handed to the mail server (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _queue.unfinished_tasks


atexit.register(wait_until_sent, 5.0)
