"""The view for closing a client's account."""
from flask import abort, flash, redirect, url_for
from flask_login import current_user, login_required

from app import policy
from app.accounts import bp, closing
from app.core.forms import CsrfForm
from app.models import User


@bp.post("/clients/<int:client_id>/close")
@login_required
def close_account(client_id):
    """Close a client's account: she can no longer sign in; the record is kept."""
    client = policy.get_visible_or_404(User, client_id)
    policy.require_therapist(current_user)
    if not CsrfForm().validate_on_submit():
        abort(400)
    closing.close_account(current_user, client)
    flash(f"{client.name}'s account is closed. The record is kept and can still be exported.", "success")
    return redirect(url_for("progress.client", client_id=client.id))
