"""Web push in a real browser: static/js/push.js on the account page and static/js/sw.js.

Headless Chromium has no push service of its own (its subscriptions go to Google's), so the page's
PushManager is replaced by one that hands out a subscription of the tests' push service
(tests/support/push_service.py); everything else is the browser's own: the permission, the service
worker's registration at /sw.js, the POST with the CSRF token, the reload, and a push delivered to
the service worker (DevTools' ServiceWorker.deliverPushMessage) shown as a notification."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.models import PushSubscription
from app.notifications import push
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD, make_client, make_therapist
from tests.support.push_service import PushService, start

FAKE_PUSH_MANAGER = """
(() => {
  const given = %s;
  const calls = JSON.parse(sessionStorage.getItem("pushCalls") || "[]");
  const note = (what) => { calls.push(what); sessionStorage.setItem("pushCalls", JSON.stringify(calls)); };
  window.pushCalls = () => JSON.parse(sessionStorage.getItem("pushCalls") || "[]");
  if (!given.supported) { delete window.PushManager; return; }
  function subscription(key) {
    return {
      endpoint: given.endpoint,
      options: { applicationServerKey: key, userVisibleOnly: true },
      toJSON() { return { endpoint: given.endpoint, expirationTime: null,
                          keys: { p256dh: given.p256dh, auth: given.auth } }; },
      unsubscribe() { note("unsubscribe"); sessionStorage.removeItem("subscribed"); return Promise.resolve(true); }
    };
  }
  PushManager.prototype.subscribe = function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    const b64url = btoa(String.fromCharCode(...key)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    note({ subscribe: { userVisibleOnly: options.userVisibleOnly, key: b64url } });
    sessionStorage.setItem("subscribed", JSON.stringify(Array.from(key)));
    return Promise.resolve(subscription(key.buffer));
  };
  PushManager.prototype.getSubscription = function () {
    const key = sessionStorage.getItem("subscribed");
    return Promise.resolve(key ? subscription(new Uint8Array(JSON.parse(key)).buffer) : null);
  };
})();
"""


@pytest.fixture(scope="module")
def push_service():
    service = PushService()
    server = start(service)
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_on(app, push_service):
    push_service.reset()
    private, public = push.generate_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public, VAPID_SUBJECT="mailto:office@example.org",
                      PUSH_SERVICE_HOSTS=[*app.config["PUSH_SERVICE_HOSTS"], push_service.host_entry],
                      PUSH_ALLOW_PLAIN_HTTP=True)
    return push_service


def account_page(browser, base, user, device=None, supported=True, permissions=("notifications",)):
    given = {"supported": supported}
    if device is not None:
        given.update(endpoint=device.endpoint, p256dh=device.p256dh, auth=device.auth)
    context = browser.new_context(permissions=list(permissions))
    context.add_init_script(FAKE_PUSH_MANAGER % json.dumps(given))
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, base, user.email, PASSWORD)
    page.goto(base + "/account")
    return page


def stored() -> list[PushSubscription]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(PushSubscription)))


def notifications_after_push(page, base, data: dict, expected_url: str) -> list[dict]:
    """Deliver `data` to the page's service worker as a push; the notifications shown once one
    leads to `expected_url` (or after five tries of four seconds)."""
    cdp = page.context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    ours = []
    for _ in range(50):
        ours = [r for r in registrations if r["scopeURL"] == base + "/" and not r["isDeleted"]]
        if ours:
            break
        page.wait_for_timeout(100)
    assert ours, f"no service worker registered for {base}/: {registrations}"
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # active, not still installing
    shown = []
    # On a loaded machine a push delivered in the instant the worker starts can be dropped by
    # DevTools: deliver it again (the notification's tag replaces, never adds) until it is shown.
    for _ in range(5):
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": base, "registrationId": ours[-1]["registrationId"],
                                                      "data": json.dumps(data)})
        for _ in range(40):
            shown = page.evaluate("""() => navigator.serviceWorker.ready
                .then((r) => r.getNotifications())
                .then((list) => list.map((n) => ({ title: n.title, body: n.body, data: n.data })))""")
            if any(n["data"] and n["data"].get("url") == expected_url for n in shown):
                cdp.detach()
                return shown
            page.wait_for_timeout(100)
    cdp.detach()
    return shown


def test_turning_push_on_and_off_in_the_browser(base, browser, push_on):
    maria = make_client(make_therapist("Ruth"), "Maria")
    device = push_on.new_browser(push.vapid_public_key())
    page = account_page(browser, base, maria, device)
    button = page.get_by_role("button", name="Turn on notifications on this device")
    expect(button).to_be_visible()
    button.click()
    # The page reloads with the server's word for it, the device listed and marked as this one.
    expect(page.locator(".flash-success")).to_contain_text("Notifications are on for this device")
    expect(page.locator("[data-push-this]")).to_be_visible()
    expect(button).to_be_hidden()
    [subscription] = stored()
    assert (subscription.user_id, subscription.endpoint, subscription.p256dh, subscription.auth) == \
        (maria.id, device.endpoint, device.p256dh, device.auth)
    calls = page.evaluate("window.pushCalls()")
    assert calls == [{"subscribe": {"userVisibleOnly": True, "key": push.vapid_public_key()}}]
    # The service worker was registered at the root by push.js.
    scope = page.evaluate("navigator.serviceWorker.getRegistration('/').then((r) => r && r.scope)")
    assert scope == base + "/"

    # A push reaches the service worker: a notification with the payload's words and a local path;
    # a link elsewhere becomes the notifications page.
    shown = notifications_after_push(page, base, json.loads(push.push_payload("new_message", "/messages/4")),
                                     "/messages/4")
    assert {"title": "Common Ground", "body": "You have a new message in Common Ground",
            "data": {"url": "/messages/4"}} in shown
    shown = notifications_after_push(page, base, {"title": "Common Ground", "body": "x",
                                                  "url": "https://evil.example/steal"}, "/notifications")
    assert [n["data"] for n in shown] == [{"url": "/notifications"}], "one at a time (tag), never elsewhere"

    # Turning it off for this device ends the browser's subscription too.
    page.get_by_role("button", name="Turn off").click()
    expect(page.get_by_text("Notifications are off for that device.")).to_be_visible()
    assert stored() == []
    assert "unsubscribe" in page.evaluate("window.pushCalls()")


def test_a_browser_without_push_says_so(base, browser, push_on):
    maria = make_client(make_therapist("Ruth"), "Maria")
    page = account_page(browser, base, maria, supported=False)
    expect(page.get_by_text("This browser cannot receive push notifications here")).to_be_visible()
    expect(page.get_by_role("button", name="Turn on notifications on this device")).to_be_hidden()


def test_permission_refused_is_said_and_nothing_is_stored(base, browser, push_on):
    maria = make_client(make_therapist("Ruth"), "Maria")
    device = push_on.new_browser(push.vapid_public_key())
    page = account_page(browser, base, maria, device, permissions=())
    page.evaluate("Notification.requestPermission = () => Promise.resolve('denied')")
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.get_by_text("Notifications are blocked for this site")).to_be_visible()
    assert stored() == [] and page.evaluate("window.pushCalls()") == []


def test_a_refused_subscription_shows_the_servers_words(base, browser, push_on, app):
    maria = make_client(make_therapist("Ruth"), "Maria")
    device = push_on.new_browser(push.vapid_public_key())
    app.config["PUSH_ALLOW_PLAIN_HTTP"] = False  # the test service is then not an allowed one
    page = account_page(browser, base, maria, device)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.get_by_text("not a secure (https) address")).to_be_visible()
    assert stored() == []
