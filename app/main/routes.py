"""Views for the role homes and /healthz."""
import sqlalchemy as sa
from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from app import policy
from app.assignments.services import task_board
from app.core.clock import today_for
from app.exercises.families import family_name
from app.extensions import db
from app.main import bp
from app.pairs.forms import PairActionForm


@bp.get("/")
def index():
    """Send each person to her own home."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if policy.is_therapist(current_user):
        return redirect(url_for("caseload.index"))
    return redirect(url_for("main.home"))


@bp.get("/home")
@login_required
def home():
    """The client's home page."""
    policy.require_client(current_user)
    today = today_for(current_user)
    return render_template("main/home.html", board=task_board(current_user, today), today=today,
                           family_name=family_name, pair=policy.open_pair_of(current_user),
                           pair_form=PairActionForm())


@bp.get("/healthz")
def healthz():
    """200 after a trivial database round trip; 503 when the database does not answer."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok")
