"""The exercise library: built-in exercises and each therapist's own."""
from flask import Blueprint

bp = Blueprint("exercises", __name__, url_prefix="/exercises")

from app.exercises import routes  # noqa: E402,F401
