"""Assignments: the therapist gives exercises as tasks; the client's task board."""
from flask import Blueprint

bp = Blueprint("assignments", __name__)

from app.assignments import routes  # noqa: E402,F401
