"""The audit trail: writing it (`audit.record`, `record_read`, `record_reads`, used by every
service that reads or changes a client's record) and reading it (a therapist's page per client,
a client's own activity)."""
from flask import Blueprint

from app.audit.records import record, record_read, record_reads  # noqa: F401

bp = Blueprint("audit", __name__)

from app.audit import routes  # noqa: E402,F401
