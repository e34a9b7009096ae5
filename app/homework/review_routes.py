"""Views for the therapist's review."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from app import policy
from app.core.forms import CsrfForm
from app.homework import bp, review_queue
from app.homework import review as services
from app.homework.families import family_name
from app.homework.review_forms import AnnotationForm, FeedbackForm
from app.models import DELETED_DAYS, Reflection
from app.pairs.seeing import open_shared_reflection

# What the reading view shows with the reflection, loaded with it in one query.
READING = (joinedload(Reflection.assignment), joinedload(Reflection.author))


@bp.get("/review")
@login_required
def queue():
    """Reflections waiting for her review: urgent first, then oldest first, each with its first
    lines, quick ratings and, on a pair exercise, the other member."""
    policy.require_therapist(current_user)
    page = max(request.args.get("page", 1, type=int), 1)
    rows = review_queue.review_queue(current_user, page)
    return render_template("homework/review/queue.html", rows=rows, counts=rows.counts, family_name=family_name)


def _render_reading(reflection: Reflection, feedback_form=None, annotation_form=None, status=200):
    details = services.open_for_reading(current_user, reflection)
    return render_template(
        "homework/review/read.html", reflection=reflection, task=reflection.assignment, family_name=family_name,
        feedback_form=feedback_form or FeedbackForm(formdata=None),
        annotation_form=annotation_form or AnnotationForm(formdata=None),
        reviewed_form=CsrfForm(), deleted_days=DELETED_DAYS,
        place=review_queue.place_in_queue(current_user, reflection), **details,
    ), status


@bp.get("/reflections/<int:reflection_id>")
@login_required
def read(reflection_id):
    """The reading view: task, answers, ratings, addenda, earlier reflections, feedback."""
    reflection = policy.get_visible_or_404(Reflection, reflection_id, options=READING)
    if policy.is_author(current_user, reflection):
        return redirect(url_for("homework.task", task_id=reflection.assignment_id))
    if policy.partner_can_read(current_user, reflection):
        open_shared_reflection(current_user, reflection)
        pair = policy.active_pair_of(current_user)
        member = pair.member_for(reflection.author_id) if pair is not None else None
        return render_template("pairs/partner_view.html", reflection=reflection,
                               label=member.label if member is not None else "")
    if not policy.can_review_reflection(current_user, reflection):
        abort(404)
    return _render_reading(reflection)


def _reviewable(reflection_id) -> Reflection:
    reflection = policy.get_visible_or_404(Reflection, reflection_id)
    if not policy.can_review_reflection(current_user, reflection):
        abort(403 if policy.is_author(current_user, reflection) else 404)
    return reflection


@bp.post("/reflections/<int:reflection_id>/feedback")
@login_required
def feedback(reflection_id):
    """Send feedback to the client, or on a pair exercise to both members (and, by default,
    mark the reflection reviewed)."""
    reflection = _reviewable(reflection_id)
    form = FeedbackForm()
    if not form.validate_on_submit():
        return _render_reading(reflection, feedback_form=form, status=400)
    to_both = form.recipients.data == "both"
    try:
        services.give_feedback(current_user, reflection, form.body.data, form.mark_reviewed.data,
                               to_both=to_both, once_key=form.once_key())
    except services.FeedbackRefused as exc:
        form.recipients.errors.append(str(exc))
        form.recipients.data = "one"  # what she typed stays; the choice falls back to the one possible
        return _render_reading(reflection, feedback_form=form, status=409)
    flash("Feedback sent to both. Each sees it under their own reflection." if to_both else
          "Feedback sent. Your client sees it under the reflection.", "success")
    return redirect(url_for("homework.read", reflection_id=reflection.id))


@bp.post("/reflections/<int:reflection_id>/annotations")
@login_required
def annotate(reflection_id):
    """Add a private annotation (never shown to any client)."""
    reflection = _reviewable(reflection_id)
    form = AnnotationForm()
    if not form.validate_on_submit():
        return _render_reading(reflection, annotation_form=form, status=400)
    services.annotate(current_user, reflection, form.body.data, form.once_key())
    flash("Private annotation saved.", "success")
    return redirect(url_for("homework.read", reflection_id=reflection.id))


@bp.post("/reflections/<int:reflection_id>/reviewed")
@login_required
def reviewed(reflection_id):
    """Mark a reflection reviewed without writing feedback (then, as after feedback, the
    reading view offers the next reflection waiting)."""
    reflection = _reviewable(reflection_id)
    if CsrfForm().validate_on_submit():
        services.mark_reviewed(current_user, reflection)
        flash("Marked reviewed.", "success")
    return redirect(url_for("homework.read", reflection_id=reflection.id))
