"""The audit trail as people read it: a therapist's page per client, a client's own activity."""
from flask import Blueprint

bp = Blueprint("audit_trail", __name__)

from app.audit_trail import routes  # noqa: E402,F401
