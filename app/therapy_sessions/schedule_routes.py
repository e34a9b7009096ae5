"""Views for sessions scheduled ahead (schedule, move, cancel) and the therapist's calendar
subscription (her page, and the feed her calendar fetches)."""
from datetime import timedelta

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.core.clock import zone_for
from app.core.forms import CsrfForm
from app.core.links import external_url
from app.extensions import limiter
from app.models import Pair, TherapySession, User, utcnow
from app.therapy_sessions import bp, calendar_feed, schedule
from app.therapy_sessions.schedule_forms import (
    CalendarAddressForm,
    CalendarNamesForm,
    NewSessionForm,
    ScheduleForm,
)

# The page answers such refusals with 400 (409 when another session holds the time), the
# form as she filled it, and what to change.


# --- what the templates ask of a session ahead ---------------------------------------------------

bp.add_app_template_test(policy.is_upcoming, "upcoming")
bp.add_app_template_test(schedule.is_video_link, "video_link")
bp.add_app_template_filter(schedule.ends_at, "session_end")


@bp.app_template_filter("session_day")
def session_day(value, long: bool = False) -> str:
    """A session's day on the reader's clock: "Tue 8 Dec" ("Tuesday 8 December" when `long`),
    with the year when it is not this year."""
    zone = zone_for(current_user)
    local = value.astimezone(zone)
    fmt = "%A %-d %B" if long else "%a %-d %b"
    if local.year != utcnow().astimezone(zone).year:
        fmt += " %Y"
    return local.strftime(fmt)


@bp.app_template_filter("by_session_day")
def by_session_day(sessions) -> list[tuple[str, list]]:
    """Sessions (soonest first) grouped by their day on the reader's clock, each day named as
    people say it: "Today", "Tomorrow", "Wed 9 Dec"."""
    zone = zone_for(current_user)
    today = utcnow().astimezone(zone).date()
    groups: list[tuple[str, list]] = []
    for session in sessions:
        day = session.starts_at.astimezone(zone).date()
        label = {today: "Today", today + timedelta(days=1): "Tomorrow"}.get(day) or session_day(session.starts_at)
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(session)
    return groups


def _people_page(who) -> str:
    return url_for("pairs.show", pair_id=who.id) if isinstance(who, Pair) else \
        url_for("progress.client", client_id=who.id)


def _session_page(session: TherapySession) -> str:
    return _people_page(session.pair if session.pair_id else session.client)


def _when(session: TherapySession) -> str:
    """"Tue 8 Dec, 14:00–14:50" on her own clock, for a flash message."""
    zone = zone_for(current_user)
    return (f"{session.starts_at.astimezone(zone):%a %-d %b, %H:%M}–"
            f"{schedule.ends_at(session).astimezone(zone):%H:%M}")


def _refused(form, exc: schedule.ScheduleError) -> int:
    for field, message in exc.errors:
        getattr(form, field or "day").errors.append(message)
    return 409 if exc.conflict else 400


def _schedule(who):
    form = NewSessionForm()
    status, suggestion = 200, None
    if not form.is_submitted():
        suggestion = schedule.suggested_slot(current_user, who)
        if suggestion is not None:
            form.day.data, form.time.data = suggestion.day, suggestion.at
            form.duration_minutes.data, form.location.data = suggestion.minutes, suggestion.location or ""
    else:
        status = 400
        if form.validate():
            try:
                session = schedule.schedule_session(
                    current_user, who, form.day.data, form.time.data, form.duration_minutes.data,
                    form.location.data, form.once_key())
            except schedule.ScheduleError as exc:
                status = _refused(form, exc)
            else:
                flash(f"Session scheduled: {_when(session)}.", "success")
                return redirect(_people_page(who))
    return render_template("therapy_sessions/schedule.html", form=form, who=who, session=None,
                           suggestion=suggestion, back_url=_people_page(who)), status


@bp.route("/clients/<int:client_id>/sessions/schedule", methods=["GET", "POST"])
@login_required
def schedule_for_client(client_id):
    """Schedule a session ahead with one client."""
    client = policy.get_visible_or_404(User, client_id)
    if not policy.can_schedule_session_for(current_user, client):
        abort(403)
    return _schedule(client)


@bp.route("/pairs/<int:pair_id>/sessions/schedule", methods=["GET", "POST"])
@login_required
def schedule_for_pair(pair_id):
    """Schedule a session ahead with a linked pair."""
    pair = policy.get_visible_or_404(Pair, pair_id)
    if not policy.can_schedule_session_for(current_user, pair):
        abort(403)
    return _schedule(pair)


def _changeable(session_id) -> TherapySession | None:
    """Her session that may still be moved or cancelled; a client gets 403, someone else's
    session 404; one that has started or was cancelled: None (the caller says so)."""
    session = policy.get_visible_or_404(TherapySession, session_id)
    policy.require_therapist(current_user)
    return session if policy.can_change_scheduled_session(current_user, session) else None


def _cannot_change(session_id):
    """It began or was cancelled (perhaps while this request waited its turn): say so, nothing changed."""
    flash("This session has already started or was cancelled: it can no longer be moved or "
          "cancelled.", "error")
    return redirect(url_for("therapy_sessions.show", session_id=session_id))


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@login_required
def reschedule_session(session_id):
    """Move a session that has not started, or change its length or place."""
    session = _changeable(session_id)
    if session is None:
        return _cannot_change(session_id)
    form = ScheduleForm(obj=None)
    status = 200
    if not form.is_submitted():
        local = session.starts_at.astimezone(zone_for(current_user))
        form.day.data, form.time.data = local.date(), local.time().replace(second=0, microsecond=0)
        form.duration_minutes.data = session.duration_minutes or schedule.DEFAULT_MINUTES
        form.location.data = session.location or ""
    else:
        status = 400
        if form.validate():
            try:
                moved = schedule.reschedule_session(current_user, session, form.day.data, form.time.data,
                                                    form.duration_minutes.data, form.location.data)
            except schedule.ScheduleError as exc:
                status = _refused(form, exc)
            except schedule.NoLongerChangeable:  # cancelled while this move waited its turn
                return _cannot_change(session_id)
            else:
                flash(f"Session changed: {_when(session)}." if moved else "Nothing was changed.",
                      "success")
                return redirect(_session_page(session))
    schedule.open_for_change(current_user, session)
    who = session.pair if session.pair_id else session.client
    return render_template("therapy_sessions/schedule.html", form=form, who=who, session=session,
                           suggestion=None, back_url=_session_page(session)), status


@bp.route("/sessions/<int:session_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel_session(session_id):
    """Ask, then cancel a session that has not started (it stays listed, struck through)."""
    session = _changeable(session_id)
    if session is None:
        return _cannot_change(session_id)
    form = CsrfForm()
    if form.validate_on_submit():
        try:
            schedule.cancel_session(current_user, session)
        except schedule.NoLongerChangeable:  # cancelled while this one waited its turn
            return _cannot_change(session_id)
        flash(f"Session cancelled: {_when(session)}. It stays listed, struck through.", "success")
        return redirect(_session_page(session))
    schedule.open_for_change(current_user, session)
    who = session.pair if session.pair_id else session.client
    return render_template("therapy_sessions/schedule_cancel.html", form=form, session=session, who=who,
                           back_url=_session_page(session))


# --- the calendar subscription ---------------------------------------------------------------------

def _calendar_page(address: str | None = None, repeated: bool = False, names_form=None, status=200):
    shows = "names" if current_user.calendar_shows_names else "initials"
    return render_template("therapy_sessions/calendar.html", address=address, repeated=repeated,
                           webcal=address.replace("https://", "webcal://").replace("http://", "webcal://")
                           if address else None,
                           feed=calendar_feed.status(current_user), address_form=CalendarAddressForm(),
                           names_form=names_form or CalendarNamesForm(formdata=None, shows=shows),
                           action_form=CsrfForm()), status


@bp.get("/account/calendar")
@login_required
def calendar():
    """Her calendar subscription: make, renew or end its address; names or initials."""
    if not policy.can_manage_calendar_feed(current_user):
        abort(403)
    return _calendar_page()


@bp.post("/account/calendar/address")
@login_required
def calendar_new_address():
    """Make (or renew) her calendar address, and show it this once."""
    if not policy.can_manage_calendar_feed(current_user):
        abort(403)
    form = CalendarAddressForm()
    if not form.validate_on_submit():
        flash("The page was out of date. Please try again.", "error")
        return redirect(url_for("therapy_sessions.calendar"))
    token = calendar_feed.new_address(current_user, form.once_key())
    if token is None:  # the same form sent again: the address it made was shown then
        return _calendar_page(repeated=True)
    return _calendar_page(address=external_url("therapy_sessions.calendar_feed", token=token))


@bp.post("/account/calendar/revoke")
@login_required
def calendar_revoke():
    """End her calendar address: her calendar stops receiving sessions."""
    if not policy.can_manage_calendar_feed(current_user):
        abort(403)
    if CsrfForm().validate_on_submit() and calendar_feed.revoke(current_user):
        flash("Your calendar address is turned off. Your calendar will stop showing new or changed "
              "sessions; you can remove the subscription from it.", "success")
    return redirect(url_for("therapy_sessions.calendar"))


@bp.post("/account/calendar/names")
@login_required
def calendar_names():
    """Initials only, or names and places, in what her calendar receives."""
    if not policy.can_manage_calendar_feed(current_user):
        abort(403)
    form = CalendarNamesForm()
    if not form.validate_on_submit():
        return _calendar_page(names_form=form, status=400)
    calendar_feed.show_names(current_user, form.shows.data == "names")
    flash("Saved. Your calendar shows full names and places from its next fetch."
          if current_user.calendar_shows_names else
          "Saved. Your calendar shows initials only from its next fetch.", "success")
    return redirect(url_for("therapy_sessions.calendar"))


def _feed_rate():
    return current_app.config["CALENDAR_FEED_RATE"]


def _unknown_address_rate():
    return current_app.config["CALENDAR_FEED_UNKNOWN_RATE"]


def _feed_key():
    # Per address, never the secret itself (the limiter's storage and logs see this key).
    return "calendar:" + calendar_feed.token_hash(request.view_args.get("token", ""))[:16]


def _not_found(response) -> bool:
    return response.status_code == 404


# Two throttles: each address is fetched at most so often (a calendar asks every hour or so, a
# few devices each), and an address that guesses wrong (404) counts against where it came from.
@bp.get("/calendar/<token>.ics", endpoint="calendar_feed")
@limiter.limit(_feed_rate, key_func=_feed_key)
@limiter.limit(_unknown_address_rate, deduct_when=_not_found)
def calendar_feed_ics(token):
    """The feed her calendar fetches: no sign-in, the secret address is the key. An unknown or
    ended address answers 404, as if it had never been."""
    therapist = calendar_feed.therapist_for(token)
    if therapist is None:
        abort(404)
    body = calendar_feed.feed(therapist, lambda s: external_url("therapy_sessions.show", session_id=s.id))
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="common-ground-sessions.ics"'
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
