"""Views for the therapist's caseload and one client's page."""
from flask import render_template, request
from flask_login import current_user, login_required

from app import policy
from app.core.forms import CsrfForm
from app.homework.families import family_name
from app.models import User
from app.progress import bp
from app.progress import caseload as services


@bp.get("/caseload", endpoint="caseload")
@login_required
def index():
    """The therapist's home: her clients and the invitations still open."""
    policy.require_therapist(current_user)
    args = request.args
    page = services.caseload_page(current_user, sort=args.get("sort", "name"), query=args.get("q", ""),
                                  attention=args.get("attention") == "1", page=args.get("page", 1, type=int))
    return render_template("progress/caseload/index.html", action_form=CsrfForm(), **page)


@bp.get("/clients/<int:client_id>")
@login_required
def client(client_id):
    """One client's page, as her therapist sees it."""
    # Visibility first, so that another person's id answers 404 whatever the visitor's role.
    person = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    page = services.client_page(current_user, person, request.args.get("page", 1, type=int))
    return render_template("progress/caseload/client.html", family_name=family_name,
                           close_form=CsrfForm(), **page)
