"""Outgoing email: real SMTP when MAIL_SERVER is set, otherwise written to the log."""
from __future__ import annotations

import logging
import smtplib
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
