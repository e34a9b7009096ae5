"""Assigning from the library: one exercise to one or several clients and pairs at once."""
from datetime import timedelta

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app import policy
from app.core.clock import today_for
from app.homework import bp
from app.homework import bulk_assign as services
from app.homework.bulk_forms import BulkAssignForm
from app.homework.families import family_name
from app.homework.tasks import AssignmentError
from app.models import Exercise

DEFAULT_DUE_IN = timedelta(days=7)  # the usual time between two sessions


def _list(names: list[str]) -> str:
    """"Maria", "Maria and Iris", "Maria, Iris and Dora"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _offer(form: BulkAssignForm):
    """Her clients and pairs who may get an exercise now, as the form's checkboxes."""
    clients, pairs = services.recipients(current_user)
    form.clients.choices = [SelectChoice(c.id, c.name) for c in clients]
    form.pairs.choices = [SelectChoice(p.id, " & ".join(f"{m.user.name} ({m.label})" for m in p.members))
                          for p in pairs]
    return clients, pairs


@bp.route("/exercises/<int:exercise_id>/assign", methods=["GET", "POST"], endpoint="bulk_assign")
@login_required
def assign_from_library(exercise_id):
    """Give this exercise to the clients and pairs she ticks, with one due date and note."""
    exercise = policy.get_visible_or_404(Exercise, exercise_id)
    if not policy.can_assign_exercise(current_user, exercise):
        flash("This exercise is archived; restore it before assigning it.", "error")
        return redirect(url_for("homework.exercise", exercise_id=exercise.id))
    form = BulkAssignForm()
    clients, pairs = _offer(form)
    if form.due_date.data is None and not form.is_submitted():
        form.due_date.data = today_for(current_user) + DEFAULT_DUE_IN
    if form.validate_on_submit():
        try:
            given = services.assign_to_many(
                current_user, exercise, client_ids=form.clients.data or [], pair_ids=form.pairs.data or [],
                due_date=form.due_date.data, note=form.note.data or "",
                reveal_together=form.reveal_together.data, once_key=form.once_key())
        except AssignmentError as exc:
            form[exc.field or "clients"].errors = [*form[exc.field or "clients"].errors, str(exc)]
            clients, pairs = _offer(form)  # someone may have left the list since the page was drawn
        else:
            flash(f"“{exercise.title}” assigned to {_list(given.names())}.", "success")
            return redirect(url_for("homework.exercise", exercise_id=exercise.id))
    return render_template("homework/library/assign.html", form=form, exercise=exercise,
                           clients=clients, pairs=pairs, family_name=family_name)
