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
    notes = services.page_of(current_user, page)
    return render_template("notifications/index.html", notes=notes, texts=_texts(notes.items),
                           form=CsrfForm())


def _texts(notes) -> dict[int, str]:
    """What each says: a pair's event in the reader's words (pairs.turns), else by its kind."""
    from app.pairs.turns import notice_text  # pairs import notifications' services

    return {n.id: (n.kind in services.PAIR_KINDS and notice_text(current_user, n.kind))
            or services.MESSAGES.get(n.kind, "Something new") for n in notes}


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
