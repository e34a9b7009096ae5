"""Notifications: in the app with an unread count, and by email and push (through the outbox)
for those who ask for them."""
from flask import Blueprint

bp = Blueprint("notifications", __name__)

from app.notifications import push_routes, routes  # noqa: E402,F401


def init_app(app) -> None:
    """The outbox's after-commit wake-up (its commands are in app/ops/cli.py)."""
    from app.notifications import outbox

    outbox.init_app(app)
