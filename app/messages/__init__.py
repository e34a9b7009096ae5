"""Secure messages: a thread between each client and her therapist, and one for each pair with
its therapist; replies to feedback; read state for both sides; every read of someone else's
words audited; bodies encrypted at rest (the model's type)."""
from flask import Blueprint

bp = Blueprint("messages", __name__)

from app.messages import routes  # noqa: E402,F401
