"""The client's home: her tasks at a glance, her link with her pair."""
from flask import render_template
from flask_login import current_user, login_required

from app import policy
from app.core.clock import today_for
from app.core.forms import CsrfForm
from app.homework import bp
from app.homework.families import family_name
from app.homework.tasks import task_board
from app.pairs.turns import turns_of
from app.therapy_sessions.coming_up import next_sessions_for


@bp.get("/home")
@login_required
def home():
    """The client's home page."""
    policy.require_client(current_user)
    today = today_for(current_user)
    board = task_board(current_user, today)
    return render_template("homework/home.html", board=board, today=today, family_name=family_name,
                           pair=policy.open_pair_of(current_user), pair_form=CsrfForm(),
                           next_sessions=next_sessions_for(current_user),
                           turns=turns_of(current_user, board.overdue + board.due_today
                                          + board.upcoming + board.done))
