"""Reflections: the client writes (drafts that are never lost), submits, adds, flags urgent."""
from flask import Blueprint

bp = Blueprint("reflections", __name__)

from app.reflections import routes  # noqa: E402,F401
