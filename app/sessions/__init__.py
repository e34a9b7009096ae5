"""Sessions: shared notes, private clinical notes, client contributions and the agenda."""
from flask import Blueprint

bp = Blueprint("sessions", __name__)

from app.sessions import routes  # noqa: E402,F401
