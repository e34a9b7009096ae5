"""The audit trail: every read of a client's record by someone else, and every change."""
from __future__ import annotations

import sqlalchemy as sa
from flask import has_request_context, request

from app.extensions import db
from app.models import AuditEvent, utcnow


def _fields(actor, action: str, subject=None, obj=None) -> dict:
    """One audit row's values."""
    if obj is not None and hasattr(obj, "_get_current_object"):
        obj = obj._get_current_object()  # current_user is a proxy: record what it stands for
    return dict(
        actor_id=getattr(actor, "id", None),
        action=action,
        subject_id=getattr(subject, "id", None),
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=getattr(obj, "id", None),
        ip=(request.remote_addr or "")[:45] if has_request_context() else None,
    )


def record(actor, action: str, subject=None, obj=None) -> AuditEvent:
    """Add an audit row to the current transaction (the caller commits)."""
    event = AuditEvent(**_fields(actor, action, subject, obj))
    db.session.add(event)
    return event


def record_read(actor, subject, obj=None, action: str = "read") -> None:
    """Record a read of `subject`'s record by anyone other than `subject` herself."""
    record_reads(actor, [(subject, obj)], action)


def record_reads(actor, subjects_and_objects, action: str) -> None:
    """Record reads at once. On a page (GET), in a short transaction of its own on a separate
    connection: the page's own reads are left alone (no commit expiring what it loaded), and
    the write never upgrades a read transaction (which SQLite refuses under concurrent
    writers)."""
    rows = [dict(_fields(actor, action, subject, obj), at=utcnow())
            for subject, obj in subjects_and_objects
            if getattr(actor, "id", None) != getattr(subject, "id", None)]
    if not rows:
        return
    if has_request_context() and request.method not in ("GET", "HEAD"):
        # A form re-shown after a POST: its own transaction may hold writes (and, on SQLite,
        # the write lock), so the reads are recorded in it, and committed with it.
        db.session.add_all(AuditEvent(**row) for row in rows)
        db.session.commit()
        return
    with db.engine.begin() as connection:
        connection.execute(sa.insert(AuditEvent), rows)
