"""The therapist's review: the queue across her caseload, reading, feedback, annotations."""
from flask import Blueprint

bp = Blueprint("review", __name__)

from app.review import routes  # noqa: E402,F401
