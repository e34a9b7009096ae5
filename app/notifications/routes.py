"""Views for notifications."""
from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.forms import CsrfForm
from app.models import Notification
from app.notifications import bp, services


@bp.get("/notifications")
@login_required
def index():
    """Her notifications, newest first."""
    page = request.args.get("page", 1, type=int)
    return render_template("notifications/index.html", notes=services.page_of(current_user, page),
                           messages=services.MESSAGES, form=CsrfForm())


@bp.post("/notifications/<int:note_id>/open")
@login_required
def open_note(note_id):
    """Mark one read and go where it leads."""
    note = policy.get_visible_or_404(Notification, note_id)
    if not CsrfForm().validate_on_submit():
        return redirect(url_for("notifications.index"))
    return redirect(services.open_notification(current_user, note))


@bp.post("/notifications/read")
@login_required
def read_all():
    """Mark every notification read."""
    if CsrfForm().validate_on_submit():
        services.mark_all_read(current_user)
    return redirect(url_for("notifications.index"))
