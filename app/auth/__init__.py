"""Signing in and out, password reset, accepting an invitation, changing one's password."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import routes  # noqa: E402,F401
from app.auth.sessions import init_login_manager  # noqa: E402,F401
