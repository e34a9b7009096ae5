"""Views for pairs."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice

from app import policy
from app.core.clock import today_for
from app.core.forms import CsrfForm, choose_first
from app.homework.exercises import assignable_exercises
from app.homework.families import family_name
from app.homework.tasks import AssignmentError
from app.models import Exercise, Pair, PairExercise, PairReply, Reflection
from app.pairs import bp, ratings, replies, reveal, seeing, services, turns
from app.pairs.forms import LABEL_SUGGESTIONS, LinkPairForm, PairAssignForm, ReplyEditForm, ReplyForm
from app.progress.charts import pair_chart
from app.progress.services import progress_of_each
from app.therapy_sessions.coming_up import due_before_next_session

# The pair page shows its members (with their accounts): loaded with the pair, in one query.
WITH_MEMBERS = (joinedload(Pair.members),)


def _client_choices():
    return [SelectChoice(c.id, c.name) for c in services.linkable_clients(current_user)]


@bp.route("/pairs/new", methods=["GET", "POST"])
@login_required
def new():
    """Propose linking two of her clients as a pair."""
    policy.require_therapist(current_user)
    form = LinkPairForm()
    choices = _client_choices()
    form.first_id.choices = choose_first(choices)
    form.second_id.choices = choose_first(choices)
    if form.validate_on_submit():
        first = services.find_client(form.first_id.data)
        second = services.find_client(form.second_id.data)
        try:
            pair = services.link_pair(current_user, first, form.first_label.data, second,
                                      form.second_label.data, form.once_key())
        except services.PairError as exc:
            form[exc.field or "first_id"].errors.append(str(exc))
        else:
            flash("Link proposed. It takes effect when both have accepted it on their own pages.",
                  "success")
            return redirect(url_for("pairs.show", pair_id=pair.id))
    elif form.is_submitted():
        for name in ("first_id", "second_id"):
            if form[name].errors:  # an id that is not one of hers: say so plainly
                form[name].errors = ["Choose one of your own clients."]
    return render_template("pairs/new.html", form=form, suggestions=LABEL_SUGGESTIONS,
                           has_clients=len(choices) >= 2)


@bp.get("/pairs/<int:pair_id>")
@login_required
def show(pair_id):
    """The therapist's pair page (side by side), or a member's view of her link."""
    pair = policy.get_visible_or_404(Pair, pair_id, options=WITH_MEMBERS)
    if policy.is_therapist(current_user):
        rows = seeing.pair_overview(current_user, pair)
        progress = progress_of_each([m.user for m in pair.members])
        members = [(f"{m.user.name} ({m.label})", progress[m.user_id].points) for m in pair.members]
        return render_template("pairs/show.html", pair=pair, rows=rows,
                               pair_svg=pair_chart("pair-ratings", members),
                               sessions=seeing.pair_sessions(current_user, pair),
                               table=ratings.ratings_side_by_side(rows, pair),
                               replies=replies.replies_in_pair(current_user,
                                                               [r.pair_exercise.id for r in rows]),
                               reactions=replies.REACTIONS, action_form=CsrfForm())
    return render_template("pairs/member.html", pair=pair, me=pair.member_for(current_user.id),
                           partner=pair.partner_of(current_user.id), action_form=CsrfForm())


def _pair_action(pair_id, require_role, action, done_message):
    # Visibility first, so that another person's pair answers 404 whatever the visitor's role.
    pair = policy.get_visible_or_404(Pair, pair_id)
    require_role(current_user)
    if CsrfForm().validate_on_submit():
        try:
            action(pair)
        except services.PairError as exc:
            flash(str(exc), "error")
        else:
            flash(done_message, "success")
    return pair


@bp.post("/pairs/<int:pair_id>/accept")
@login_required
def accept(pair_id):
    """A member accepts the proposed link."""
    pair = _pair_action(pair_id, policy.require_client,
                        lambda p: services.respond(current_user, p, accept=True),
                        "You accepted. The link is active once both of you have accepted.")
    return redirect(url_for("pairs.show", pair_id=pair.id))


@bp.post("/pairs/<int:pair_id>/decline")
@login_required
def decline(pair_id):
    """A member declines the proposed link."""
    _pair_action(pair_id, policy.require_client,
                 lambda p: services.respond(current_user, p, accept=False),
                 "You declined the link. Nothing is shared.")
    return redirect(url_for("homework.home"))


@bp.post("/pairs/<int:pair_id>/leave")
@login_required
def leave(pair_id):
    """A member leaves the pair; sharing stops at once both ways."""
    _pair_action(pair_id, policy.require_client, lambda p: services.leave_pair(current_user, p),
                 "You have left the pair. Neither of you can read what the other had shared.")
    return redirect(url_for("homework.home"))


@bp.post("/pairs/<int:pair_id>/dissolve")
@login_required
def dissolve(pair_id):
    """The therapist ends the pair."""
    pair = _pair_action(pair_id, policy.require_therapist,
                        lambda p: services.dissolve_pair(current_user, p),
                        "The pair is dissolved. Nothing either shared is visible to the other any more.")
    return redirect(url_for("pairs.show", pair_id=pair.id))


@bp.route("/pairs/<int:pair_id>/assign", methods=["GET", "POST"])
@login_required
def assign(pair_id):
    """Give one exercise to both members of a linked pair."""
    pair = policy.get_visible_or_404(Pair, pair_id)
    policy.require_therapist(current_user)
    if not policy.can_assign_to_pair(current_user, pair):
        flash("This pair has ended." if pair.ended_at else
              "Exercises can be given to a pair once both members have accepted the link.", "error")
        return redirect(url_for("pairs.show", pair_id=pair.id))
    form = PairAssignForm()
    exercises = assignable_exercises(current_user)
    form.exercise_id.choices = choose_first([SelectChoice(e.id, e.title, optgroup=family_name(e.family))
                                             for e in exercises])
    # A due date must not lie in the past on either member's calendar.
    today = max(today_for(m.user) for m in pair.members)
    # Due before their next pair session when one is scheduled (the page says so), else today.
    due_default = due_before_next_session(current_user, pair, today)
    if form.due_date.data is None and not form.is_submitted():
        form.due_date.data = due_default.due if due_default else today
    if form.validate_on_submit():
        exercise = policy.get_visible_or_404(Exercise, form.exercise_id.data)
        try:
            given = services.assign_to_pair(current_user, pair, exercise, due_date=form.due_date.data,
                                            today=today, note=form.note.data or "",
                                            reveal_together=form.reveal_together.data,
                                            repeat=form.repeat.data, times=form.times.data or 1,
                                            once_key=form.once_key())
        except AssignmentError as exc:
            form[exc.field or "exercise_id"].errors.append(str(exc))
        else:
            times = f", {len(given)} times" if len(given) > 1 else ""
            flash(f"“{exercise.title}” given to both{times}.", "success")
            return redirect(url_for("pairs.show", pair_id=pair.id))
    return render_template("pairs/assign.html", form=form, pair=pair, due_default=due_default)


@bp.get("/shared")
@login_required
def shared():
    """What her partner has shared with her, always labelled with whose words they are."""
    policy.require_client(current_user)
    return render_template("pairs/shared.html", **seeing.partner_feed(current_user))


@bp.get("/pairs/exercises/<int:pair_exercise_id>/reveal")
@login_required
def reveal_page(pair_exercise_id):
    """The reveal: both members' answers side by side, once both have sent theirs."""
    pair_exercise = policy.get_visible_or_404(PairExercise, pair_exercise_id)
    policy.require_client(current_user)
    if not policy.can_open_reveal(current_user, pair_exercise):
        mine = next((t for t in pair_exercise.tasks if t.client_id == current_user.id), None)
        return render_template("pairs/not_revealed.html", pair_exercise=pair_exercise, task=mine,
                               turn=turns.turn_of(current_user, mine) if mine else None), 409
    return _render_reveal(pair_exercise)


def _render_reveal(pair_exercise, status=200, reply_form=None):
    return render_template("pairs/reveal.html", reveal=reveal.open_reveal(current_user, pair_exercise),
                           replies=replies.replies_on(current_user, pair_exercise),
                           reactions=replies.REACTIONS, reply_form=reply_form or ReplyForm(formdata=None),
                           edit_form=ReplyEditForm(formdata=None), action_form=CsrfForm()), status


@bp.post("/pairs/exercises/<int:pair_exercise_id>/replies")
@login_required
def reply(pair_exercise_id):
    """A member answers one of the other's answers: a short reply or a reaction."""
    pair_exercise = policy.get_visible_or_404(PairExercise, pair_exercise_id)
    policy.require_client(current_user)
    form = ReplyForm()
    if not form.validate_on_submit() or not (form.reflection_id.data or "").isdigit() \
            or not (form.prompt_index.data or "").isdigit():
        flash("That reply could not be sent; please try again from the page.", "error")
        return redirect(url_for("pairs.reveal_page", pair_exercise_id=pair_exercise.id))
    reflection = policy.get_visible_or_404(Reflection, form.reflection_id.data)
    if reflection.assignment.pair_exercise_id != pair_exercise.id:
        abort(404)
    index = int(form.prompt_index.data)
    try:
        replies.add_reply(current_user, reflection, index, body=form.body.data or "",
                          reaction=form.reaction.data or None, once_key=form.once_key())
    except replies.ReplyError as exc:
        flash(str(exc), "error")
        return _render_reveal(pair_exercise, 400, reply_form=form)
    flash("Sent. You can change a reply for the next few minutes, or withdraw it.", "success")
    return redirect(url_for("pairs.reveal_page", pair_exercise_id=pair_exercise.id, _anchor=f"q{index + 1}"))


@bp.post("/pairs/replies/<int:reply_id>/edit")
@login_required
def edit_reply(reply_id):
    """Its author changes a reply's words, within the first minutes."""
    item = policy.get_visible_or_404(PairReply, reply_id)
    if not policy.can_withdraw_reply(current_user, item):  # her own reply (changing it: 10 minutes)
        abort(403)
    form = ReplyEditForm()
    if form.validate_on_submit():
        try:
            replies.edit_reply(current_user, item, form.body.data or "")
        except replies.ReplyError as exc:
            flash(str(exc), "error")
        else:
            flash("Your reply is changed.", "success")
    return redirect(url_for("pairs.reveal_page", pair_exercise_id=item.pair_exercise_id,
                            _anchor=f"q{item.prompt_index + 1}"))


@bp.post("/pairs/replies/<int:reply_id>/withdraw")
@login_required
def withdraw_reply(reply_id):
    """Its author takes a reply back: nobody sees it any more."""
    item = policy.get_visible_or_404(PairReply, reply_id)
    if not policy.can_withdraw_reply(current_user, item):
        abort(403)
    if CsrfForm().validate_on_submit():
        replies.withdraw_reply(current_user, item)
        flash("Withdrawn. Nobody sees that reply any more.", "success")
    return redirect(url_for("pairs.reveal_page", pair_exercise_id=item.pair_exercise_id))
