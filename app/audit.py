"""The audit trail: every read of a client's record by someone else, and every change."""
from __future__ import annotations

from flask import has_request_context, request

from app.extensions import db
from app.models import AuditEvent


def record(actor, action: str, subject=None, obj=None) -> AuditEvent:
    """Add an audit row to the current transaction (the caller commits)."""
    if obj is not None and hasattr(obj, "_get_current_object"):
        obj = obj._get_current_object()  # current_user is a proxy: record what it stands for
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        subject_id=getattr(subject, "id", None),
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=getattr(obj, "id", None),
        ip=(request.remote_addr or "")[:45] if has_request_context() else None,
    )
    db.session.add(event)
    return event


def record_read(actor, subject, obj=None, action: str = "read") -> None:
    """Record and commit a read of `subject`'s record by anyone other than `subject` herself."""
    if getattr(actor, "id", None) == getattr(subject, "id", None):
        return
    record(actor, action, subject, obj)
    db.session.commit()
