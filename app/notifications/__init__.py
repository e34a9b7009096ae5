"""Notifications: in the app with an unread count, and by email for those who ask for it."""
from flask import Blueprint

bp = Blueprint("notifications", __name__)

from app.notifications import routes  # noqa: E402,F401
