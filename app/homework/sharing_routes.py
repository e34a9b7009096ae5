"""Sharing a sent reflection with the other member of a pair, and stopping (the decisions are
the pairs' services' and policy's; this is only where the author's buttons post)."""
from flask import abort, flash, redirect, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.forms import CsrfForm
from app.homework import bp
from app.models import Reflection
from app.pairs import services as pair_services


@bp.post("/reflections/<int:reflection_id>/share")
@login_required
def share(reflection_id):
    """The author shares her sent reflection with the other member of her pair."""
    reflection = policy.get_visible_or_404(Reflection, reflection_id)
    if not policy.is_author(current_user, reflection):
        abort(403)
    if CsrfForm().validate_on_submit():
        try:
            reader = pair_services.share(current_user, reflection)
        except pair_services.PairError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Shared with {reader.name}. You can stop sharing at any time." if reader
                  else "This reflection is already shared.", "success")
    return redirect(url_for("homework.task", task_id=reflection.assignment_id))


@bp.post("/reflections/<int:reflection_id>/unshare")
@login_required
def unshare(reflection_id):
    """The author stops sharing; the other member loses access at once."""
    reflection = policy.get_visible_or_404(Reflection, reflection_id)
    if not policy.is_author(current_user, reflection):
        abort(403)
    if CsrfForm().validate_on_submit():
        try:
            reader = pair_services.withdraw(current_user, reflection)
        except pair_services.PairError as exc:
            flash(str(exc), "error")
        else:
            flash(f"No longer shared. {reader.name} cannot read it any more." if reader
                  else "No longer shared.", "success")
    return redirect(url_for("homework.task", task_id=reflection.assignment_id))
