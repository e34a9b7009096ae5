"""The therapist's caseload: her clients and pending invitations."""
from flask import Blueprint

bp = Blueprint("caseload", __name__)

from app.caseload import routes  # noqa: E402,F401
