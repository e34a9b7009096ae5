"""Views for the therapist's caseload."""
from flask import render_template, request
from flask_login import current_user, login_required

from app import policy
from app.accounts.invitations import invitation_link
from app.core.clock import today_for, zone_for
from app.core.forms import CsrfForm
from app.homework.families import family_name
from app.homework.review import review_counts
from app.homework.tasks import client_tasks
from app.models import User
from app.pairs.services import pairs_of
from app.progress import bp
from app.progress import caseload as services
from app.progress.charts import ratings_chart, weekly_chart
from app.progress.services import dashboard, progress_for, timeline
from app.therapy_sessions.services import client_sessions


@bp.get("/caseload", endpoint="caseload")
@login_required
def index():
    """The therapist's home: her clients and the invitations still open."""
    policy.require_therapist(current_user)
    args = request.args
    board = dashboard(current_user, today_for(current_user), sort=args.get("sort", "name"),
                      query=args.get("q", "")[:100], attention=args.get("attention") == "1",
                      page=args.get("page", 1, type=int))
    invitations = services.open_invitations(current_user)
    return render_template(
        "progress/caseload/index.html",
        board=board,
        review_counts=review_counts(current_user),
        pairs=pairs_of(current_user),
        invitations=invitations,
        invitation_link=invitation_link,
        action_form=CsrfForm(),
    )


@bp.get("/clients/<int:client_id>")
@login_required
def client(client_id):
    """One client's page, as her therapist sees it."""
    # Visibility first, so that another person's id answers 404 whatever the visitor's role.
    person = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    services.open_client_record(current_user, person)
    page = max(request.args.get("page", 1, type=int), 1)
    progress = progress_for(person, today_for(person), zone_for(person))
    return render_template("progress/caseload/client.html", client=person, pair=policy.open_pair_of(person),
                           tasks=client_tasks(current_user, person, page),
                           sessions=client_sessions(current_user, person),
                           today=today_for(current_user), family_name=family_name,
                           progress=progress, ratings_svg=ratings_chart("ratings", progress),
                           weekly_svg=weekly_chart("weekly", progress),
                           timeline=timeline(current_user, person), close_form=CsrfForm())
