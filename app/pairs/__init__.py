"""Pairs: consented linking of two clients, pair exercises, sharing and reveal-together."""
from flask import Blueprint

bp = Blueprint("pairs", __name__)

from app.pairs import routes  # noqa: E402,F401
