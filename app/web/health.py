"""/healthz (liveness: the process answers and reaches the database) and /readyz (readiness:
the schema at head, Redis when configured, the keys against the data), for the load balancer."""
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 after a trivial database round trip; 503 when the database does not answer."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """200 when this server can serve; 503 naming each part that is not ready."""
    from app.web.readiness import problems

    found = problems(current_app)
    if found:
        return jsonify(status="not ready", problems=found), 503
    return jsonify(status="ready")
