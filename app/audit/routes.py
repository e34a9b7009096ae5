"""Views for the audit trail: the therapist's page per client and the client's own activity."""
from flask import render_template, request
from flask_login import current_user, login_required

from app import policy
from app.audit import bp, services
from app.core.clock import zone_for
from app.models import User


@bp.get("/clients/<int:client_id>/audit")
@login_required
def client_trail(client_id):
    """Every audit row about one client, newest first, filterable by action and by day."""
    # Visibility first, so that another person's id answers 404 whatever the visitor's role.
    client = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    actions = services.actions_for(client)
    trail_filter = services.parse_filter(request.args, actions)
    pagination, rows = services.open_trail(current_user, client, trail_filter,
                                           zone_for(current_user),
                                           request.args.get("page", 1, type=int))
    if services.READ_AUDIT_TRAIL not in actions:  # this very reading just added it
        actions = sorted(actions + [services.READ_AUDIT_TRAIL])
    return render_template("audit/client.html", client=client, rows=rows,
                           pagination=pagination, filter=trail_filter,
                           actions=[(a, services.action_label(a)) for a in actions])


@bp.get("/account/activity")
@login_required
def my_activity():
    """Who else opened or changed her record, and when (never what they read)."""
    policy.require_client(current_user)
    pagination, rows = services.activity_of(current_user, request.args.get("page", 1, type=int))
    return render_template("audit/activity.html", rows=rows, pagination=pagination)
