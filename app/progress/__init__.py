"""Progress you can see: charts, the therapist's client timeline, the caseload dashboard, export."""
from flask import Blueprint

bp = Blueprint("progress", __name__)

from app.progress import caseload_routes, routes  # noqa: E402,F401
