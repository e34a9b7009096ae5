"""Views for web push: turning it on for this browser (posted by static/js/push.js), off for one
of her devices (the account page's form), and the service worker itself at /sw.js."""
from flask import current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user, login_required
from wtforms import HiddenField, StringField

from app.core.forms import AppForm
from app.notifications import bp, push, push_devices


class PushSubscriptionForm(AppForm):
    """What a browser's PushSubscription holds (its shape only: push_devices checks meaning)."""

    endpoint = StringField("Push address")
    p256dh = StringField("Key")
    auth = StringField("Secret")


class PushOffForm(AppForm):
    """The "Turn off" button of one device on the account page."""

    device = HiddenField("Device")


@bp.post("/account/push")
@login_required
def push_subscribe():
    """Turn push on for the browser that sends its subscription: JSON out, for push.js to show."""
    form = PushSubscriptionForm()
    if not form.validate_on_submit():
        return jsonify(ok=False, message="This page had expired. Please reload it and try again."), 400
    try:
        subscription = push_devices.turn_on(current_user, form.endpoint.data, form.p256dh.data,
                                            form.auth.data, request.headers.get("User-Agent", ""))
    except push_devices.PushNotSetUp as exc:
        return jsonify(ok=False, message=str(exc)), 409
    except push_devices.PushRefused as exc:
        return jsonify(ok=False, message=str(exc)), 400
    message = f"Notifications are on for this device ({subscription.device})."
    flash(message, "success")
    return jsonify(ok=True, message=message, device=subscription.device)


@bp.post("/account/push/off")
@login_required
def push_unsubscribe():
    """Turn push off for one of her devices."""
    form = PushOffForm()
    if form.validate_on_submit() and push_devices.turn_off(current_user, form.device.data):
        flash("Notifications are off for that device.", "success")
    else:
        flash("That device is not on your list (push may already be off for it).", "error")
    return redirect(url_for("accounts.account") + "#push")


@bp.get("/sw.js")
def service_worker():
    """The service worker, at the root so that its scope is the whole site."""
    response = current_app.send_static_file("js/sw.js")
    response.mimetype = "text/javascript"
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"  # a changed worker reaches browsers at once
    return response


@bp.app_template_global()
def push_settings(user) -> dict:
    """For the account page: whether push is set up here, the key to subscribe with, her devices."""
    enabled = push.push_enabled()
    devices = push_devices.devices_of(user) if getattr(user, "is_authenticated", False) else []
    return dict(enabled=enabled, public_key=push.vapid_public_key() if enabled else None,
                devices=[(device, push_devices.endpoint_tag(device)) for device in devices])
