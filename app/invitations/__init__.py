"""Inviting clients: the therapist's single-use, expiring links and the client's first visit."""
from flask import Blueprint

bp = Blueprint("invitations", __name__, url_prefix="/invitations")

from app.invitations import routes  # noqa: E402,F401
