"""Views for invitations."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import policy
from app.accounts import bp
from app.accounts import invitations as services
from app.accounts.invitation_forms import AcceptInvitationForm, InviteForm
from app.core.forms import CsrfForm
from app.models import Invitation


@bp.route("/invitations/new", methods=["GET", "POST"], endpoint="new_invitation")
@login_required
def new():
    """Invite a new client by email."""
    policy.require_therapist(current_user)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = services.invite_client(current_user, form.email.data, form.once_key())
        except services.InvitationError as exc:
            form.email.errors.append(str(exc))
        else:
            flash(f"The invitation is on its way to {invitation.email}. You can also copy its "
                  "link below.", "success")
            return redirect(url_for("progress.caseload", _anchor=f"invitation-{invitation.id}"))
    return render_template("accounts/invitations/new.html", form=form)


@bp.post("/invitations/<int:invitation_id>/resend", endpoint="resend_invitation")
@login_required
def resend(invitation_id):
    """Send the invitation email again, with a fresh lifetime."""
    invitation = policy.get_visible_or_404(Invitation, invitation_id)
    if CsrfForm().validate_on_submit():
        try:
            services.resend_invitation(current_user, invitation)
        except services.InvitationError as exc:
            flash(str(exc), "error")
        else:
            flash(f"The invitation is on its way again to {invitation.email}.", "success")
    return redirect(url_for("progress.caseload", _anchor=f"invitation-{invitation.id}"))


@bp.post("/invitations/<int:invitation_id>/revoke", endpoint="revoke_invitation")
@login_required
def revoke(invitation_id):
    """Withdraw an invitation so that its link stops working."""
    invitation = policy.get_visible_or_404(Invitation, invitation_id)
    if CsrfForm().validate_on_submit():
        try:
            services.revoke_invitation(current_user, invitation)
        except services.InvitationError as exc:
            flash(str(exc), "error")
        else:
            flash(f"The invitation for {invitation.email} is withdrawn; its link no longer works.",
                  "success")
    return redirect(url_for("progress.caseload"))


@bp.route("/invitations/accept/<token>", methods=["GET", "POST"], endpoint="accept_invitation")
def accept(token):
    """A new client opens her invitation, chooses her name and password, and is signed in."""
    try:
        invitation = services.invitation_for_token(token)
    except services.InvitationError as exc:
        return render_template("accounts/link_problem.html", message=str(exc),
                               action_url=url_for("accounts.login"), action_label="Go to sign in"), 410
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            client = services.accept_invitation(token, form.name.data, form.password.data)
        except services.InvitationError as exc:
            if exc.field:
                getattr(form, exc.field).errors.append(str(exc))
            else:
                return render_template("accounts/link_problem.html", message=str(exc),
                                       action_url=url_for("accounts.login"),
                                       action_label="Go to sign in"), 410
        else:
            logout_user()
            login_user(client)
            flash(f"Welcome to Common Ground, {client.name}.", "success")
            return redirect(url_for("accounts.index"))
    return render_template("accounts/invitations/accept.html", form=form, invitation=invitation)
