"""Outgoing email: real SMTP when MAIL_SERVER is set, otherwise written to the log.

Nothing here is called inside a request: every email is written to the outbox in the transaction
of the change that causes it and sent afterwards (app/notifications/outbox.py)."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

log = logging.getLogger("common_ground.mail")


def send_email(to: str, subject: str, body: str, message_id: str | None = None) -> None:
    """Send one plain-text email. Raises smtplib.SMTPException / OSError when delivery fails.
    `message_id`: the same for every attempt at one outbox item, so that a copy sent again after
    a worker died between the server's acceptance and its own record is recognisable as a copy."""
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="common-ground")
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
