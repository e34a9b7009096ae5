"""Homework: the exercise library, tasks, reflections and their review, and the client's home.
The one owner of /tasks/* and /reflections/* (sharing a reflection asks the pairs' services)."""
from flask import Blueprint

bp = Blueprint("homework", __name__)

from app.homework import (  # noqa: E402,F401
    bulk_routes,
    home_routes,
    library_routes,
    reflection_routes,
    review_routes,
    sharing_routes,
    task_routes,
)
