"""Views for messages."""
import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from app import policy
from app.messages import bp, reading, threads
from app.messages.forms import HoursForm, MessageForm
from app.models import Pair, Reflection, User
from app.pairs.turns import relation_words

log = logging.getLogger(__name__)


@bp.app_context_processor
def unread_messages_badge():
    """The Messages link's count, asked only by the page that shows it."""
    return {"unread_messages": _unread_messages}


def _unread_messages() -> int:
    if not current_user.is_authenticated:
        return 0
    try:
        return reading.unread_total(current_user)
    except SQLAlchemyError:  # a count in the header must never turn a page (an error page) into a 500
        log.warning("the unread messages count could not be read", exc_info=True)
        return 0


def _thread_url(thread, **kwargs) -> str:
    if thread.pair_id is not None:
        return url_for("messages.pair_thread", pair_id=thread.pair_id, **kwargs)
    if thread.client_id == current_user.id:
        return url_for("messages.index", **kwargs)
    return url_for("messages.client_thread", client_id=thread.client_id, **kwargs)


def _render_thread(thread, form, status: int = 200, about: Reflection | None = None):
    """A thread's page: its messages, the therapist's words, the crisis numbers and the box."""
    view = reading.open_thread(current_user, thread, request.args.get("page", 1, type=int))
    writable = policy.can_write_in_thread(current_user, thread)
    context = dict(view=view, thread=thread, form=form, about=about, thread_url=_thread_url(thread),
                   hours=reading.hours_of(thread.therapist),
                   closed="" if writable else threads.closed_reason(current_user, thread))
    if policy.is_client(current_user):
        context.update(conversations=_conversations(thread))
    return render_template("messages/thread.html", **context), status


def _conversations(current) -> list[dict]:
    """A client's two conversations (her own; her pair's while it is linked), for switching."""
    pair = policy.active_pair_of(current_user)
    if pair is None:
        return []
    own = threads.thread_with_client(current_user)
    together = threads.thread_with_pair(pair)
    unread = reading.unread_by_thread(current_user, [t.id for t in (own, together) if t.id])
    therapist = own.therapist.name
    return [dict(label=f"With {therapist}", url=url_for("messages.index"),
                 current=current.client_id is not None, unread=unread.get(own.id, 0)),
            dict(label=f"With {therapist} and {relation_words(pair.partner_of(current_user.id))}",
                 url=url_for("messages.pair_thread", pair_id=pair.id),
                 current=current.pair_id is not None, unread=unread.get(together.id, 0))]


def _render_closed(thread, form, status: int):
    """A member of a pair that is not linked (ended, or not yet): its thread is closed to her.
    What she had typed stays in a box she can send to her therapist alone."""
    own = threads.thread_with_client(current_user)
    return render_template("messages/closed.html", form=form, own_thread=own,
                           reason=threads.closed_reason(current_user, thread),
                           hours=reading.hours_of(own.therapist)), status


def _write(thread, closed_page=None):
    """Send one message in this thread, or show the page again with why not (text kept)."""
    form = MessageForm()
    if form.validate_on_submit():
        try:
            sent = threads.write_message(current_user, thread, form.body.data or "",
                                         reflection_id=form.reflection_id.data or None,
                                         once_key=form.once_key())
        except threads.MessageError as exc:
            form.body.errors = [str(exc)]
            if exc.drop_reflection:
                form.reflection_id.data = ""
            if not policy.can_read_thread(current_user, thread) and closed_page is not None:
                return closed_page(form, exc.status)
            about = threads.attachable(current_user, thread, form.reflection_id.data)
            return _render_thread(thread, form, exc.status, about=about)
        flash("Sent." if sent is not None else "That message was sent already.", "success")
        return redirect(_thread_url(thread, _anchor="write"))
    return _render_thread(thread, form, 400)


@bp.get("/messages")
@login_required
def index():
    """The client's own thread with her therapist; the therapist's inbox."""
    if policy.is_therapist(current_user):
        return _render_inbox(HoursForm(formdata=None, message_hours=current_user.message_hours))
    policy.require_client(current_user)
    return _render_thread(threads.thread_with_client(current_user), MessageForm(formdata=None))


def _render_inbox(hours_form, status: int = 200):
    page, rows = reading.inbox(current_user, request.args.get("page", 1, type=int))
    return render_template("messages/inbox.html", page=page, rows=rows, hours_form=hours_form,
                           hours=reading.hours_of(current_user)), status


@bp.post("/messages/hours")
@login_required
def hours():
    """The therapist says when she reads messages (shown above every message box)."""
    policy.require_therapist(current_user)
    form = HoursForm()
    if form.validate_on_submit():
        try:
            reading.set_message_hours(current_user, form.message_hours.data or "")
        except threads.MessageError as exc:
            form.message_hours.errors = [str(exc)]
            return _render_inbox(form, 400)
        flash("Saved. Your clients see these words above their message box.", "success")
        return redirect(url_for("messages.index"))
    return _render_inbox(form, 400)


def _client_thread(client_id):
    # Visibility first, so that another person's id answers 404 whatever the visitor's role.
    client = policy.get_visible_or_404(User, client_id)
    thread = threads.thread_with_client(client)
    if not policy.can_read_thread(current_user, thread):
        abort(404)
    return thread


@bp.get("/messages/clients/<int:client_id>")
@login_required
def client_thread(client_id):
    """A client's thread with her therapist (the therapist's way in; the client's is /messages)."""
    return _render_thread(_client_thread(client_id), MessageForm(formdata=None))


@bp.post("/messages/clients/<int:client_id>")
@login_required
def write_to_client(client_id):
    """A message in a client's thread, by the client or her therapist."""
    return _write(_client_thread(client_id))


@bp.get("/messages/pairs/<int:pair_id>")
@login_required
def pair_thread(pair_id):
    """A pair's thread with its therapist; closed to the members once the pair has ended."""
    pair = policy.get_visible_or_404(Pair, pair_id)
    thread = threads.thread_with_pair(pair)
    if not policy.can_read_thread(current_user, thread):
        return _render_closed(thread, MessageForm(formdata=None), 404)
    return _render_thread(thread, MessageForm(formdata=None))


@bp.post("/messages/pairs/<int:pair_id>")
@login_required
def write_to_pair(pair_id):
    """A message in a pair's thread, by a member or their therapist."""
    thread = threads.thread_with_pair(policy.get_visible_or_404(Pair, pair_id))
    return _write(thread, closed_page=lambda form, status: _render_closed(thread, form, status))


@bp.get("/messages/about/<int:reflection_id>")
@login_required
def about(reflection_id):
    """Reply to feedback: her thread, with this reflection attached to the message."""
    reflection = policy.get_visible_or_404(Reflection, reflection_id)
    policy.require_client(current_user)
    if not policy.can_reply_to_feedback(current_user, reflection):
        flash("There is no feedback to reply to on that reflection yet. You can still write to "
              "your therapist here.", "info")
        return redirect(url_for("messages.index"))
    form = MessageForm(formdata=None, reflection_id=str(reflection.id))
    return _render_thread(threads.thread_with_client(current_user), form, about=reflection)
