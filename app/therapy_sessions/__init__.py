"""Sessions: shared notes, private clinical notes, client contributions and the agenda."""
from flask import Blueprint

bp = Blueprint("therapy_sessions", __name__)

from app.therapy_sessions import routes, schedule_routes  # noqa: E402,F401
