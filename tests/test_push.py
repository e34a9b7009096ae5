"""Web push (issue 20, part 2): turning it on and off through HTTP, what a subscription must be,
and pushes sent end to end to a push service on 127.0.0.1 (tests/support/push_service.py) that
verifies the VAPID signature and claims and decrypts the payload with the browser's own keys."""
from __future__ import annotations

import json
import re
import socket
from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import AuditEvent, OutboxItem, PushSubscription, utcnow
from app.notifications import push, push_devices
from tests.builders_homework import assign, make_exercise
from tests.conftest import csrf_token_from, login, make_client, make_therapist
from tests.support.push_service import PushService, start

SUBJECT = "mailto:practice@example.org"
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
GENERIC = {"You have something new in Common Ground", "You have a new message in Common Ground"}


@pytest.fixture(scope="module")
def push_service():
    service = PushService()
    server = start(service)
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def vapid_keys():
    return push.generate_vapid_keys()


@pytest.fixture
def service(app, push_service, vapid_keys):
    """Push set up at the practice, with the test's push service allowed (over plain http)."""
    push_service.reset()
    private, public = vapid_keys
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public, VAPID_SUBJECT=SUBJECT,
                      PUSH_SERVICE_HOSTS=[*app.config["PUSH_SERVICE_HOSTS"], push_service.host_entry],
                      PUSH_ALLOW_PLAIN_HTTP=True)
    yield push_service
    assert not push_service.refused, f"the push service refused pushes: {push_service.refused}"


@pytest.fixture
def maria(app):
    return make_client(make_therapist("Ruth"), "Maria")


def signed_in(app, user, agent=CHROME_ANDROID):
    browser = app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = agent
    login(browser, user)
    return browser


def turn_on(browser, fields, **extra):
    return browser.post("/account/push", data={**fields, **extra}, headers={"Accept": "application/json"})


def devices() -> list[PushSubscription]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(PushSubscription).order_by(PushSubscription.id)))


def audit_actions() -> list[tuple]:
    return [(e.action, e.actor_id, e.subject_id) for e in
            db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("push%")).order_by(AuditEvent.id))]


def account_page(browser) -> str:
    return unescape(browser.get("/account").get_data(as_text=True))


# --- turning push on ------------------------------------------------------------------------------

def test_turning_push_on_stores_the_device_and_lists_it(app, service, maria):
    browser = signed_in(app, maria)
    device = service.new_browser(push.vapid_public_key())
    response = turn_on(browser, device.form())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["ok"] is True
    [stored] = devices()
    assert (stored.user_id, stored.endpoint, stored.p256dh, stored.auth) == \
        (maria.id, device.endpoint, device.p256dh, device.auth)
    assert stored.device == "Chrome on Android"
    assert audit_actions() == [("push_turned_on", maria.id, maria.id)]
    page = account_page(browser)
    assert "Chrome on Android, on since" in page
    assert 'action="/account/push/off"' in page and f'name="device" value="{stored.id}"' in page
    assert device.endpoint not in page, "the endpoint (a capability URL) is never put in a page"
    assert f'data-push-key="{push.vapid_public_key()}"' in page


def test_keys_with_padding_are_stored_in_one_form(app, service, maria):
    browser = signed_in(app, maria)
    device = service.new_browser(None)
    fields = {**device.form(), "p256dh": device.p256dh + "=", "auth": device.auth + "=="}
    assert turn_on(browser, fields).status_code == 200
    assert (devices()[0].p256dh, devices()[0].auth) == (device.p256dh, device.auth)


def test_turning_push_on_needs_the_csrf_token(csrf_app, service, maria):
    browser = signed_in(csrf_app, maria)
    device = service.new_browser(None)
    refused = turn_on(browser, device.form())
    assert refused.status_code == 400 and devices() == []
    assert refused.is_json  # push.js shows what the server says
    token = csrf_token_from(browser.get("/account").get_data(as_text=True))
    assert turn_on(browser, device.form(), csrf_token=token).status_code == 200
    assert len(devices()) == 1


def test_anonymous_cannot_turn_push_on(app, service):
    device = service.new_browser(None)
    response = app.test_client().post("/account/push", data=device.form())
    assert response.status_code == 302 and "/login" in response.location
    assert devices() == []


LONG = "x" * 1000
REFUSED_ENDPOINTS = {
    "foreign host": ("https://push.evil.example/send/abc", "not one of the push services"),
    "a known host's name inside another": ("https://fcm.googleapis.com.evil.example/send/abc",
                                           "not one of the push services"),
    "a known host as a path": ("https://evil.example/fcm.googleapis.com/send/abc", "not one of the push services"),
    "a lookalike under a wildcard's parent": ("https://push.apple.com/3/device/abc", "not one of the push services"),
    "plain http to a known host": ("http://fcm.googleapis.com/fcm/send/abc", "secure (https)"),
    "an IP address": ("https://10.0.0.1/push/abc", "IP address"),
    "an IPv6 address": ("https://[::1]/push/abc", "IP address"),
    "a port of its own": ("https://fcm.googleapis.com:8443/fcm/send/abc", "not one of the push services"),
    "credentials": ("https://user:pw@fcm.googleapis.com/fcm/send/abc", "user name or password"),
    "credentials hiding the host": ("https://fcm.googleapis.com@evil.example/fcm/send/abc", "user name or password"),
    "javascript": ("javascript:alert(1)", "secure (https)"),
    "not a URL": ("not a url", "not a web address"),
    "no scheme": ("fcm.googleapis.com/fcm/send/abc", "secure (https)"),
    "no path": ("https://fcm.googleapis.com/", "not a web address"),
    "a space": ("https://fcm.googleapis.com/fcm/send/a b", "not a web address"),
    "a bad port": ("https://fcm.googleapis.com:99999/fcm/send/abc", "not a web address"),
    "empty": ("", "no push address"),
    "oversize": ("https://fcm.googleapis.com/fcm/send/" + LONG, "too long"),
}


@pytest.mark.parametrize("why", sorted(REFUSED_ENDPOINTS))
def test_a_foreign_or_malformed_endpoint_is_refused_and_nothing_stored(app, service, maria, why):
    endpoint, says = REFUSED_ENDPOINTS[why]
    device = service.new_browser(None)
    response = turn_on(signed_in(app, maria), {**device.form(), "endpoint": endpoint})
    assert response.status_code == 400, why
    answer = response.get_json()
    assert answer["ok"] is False and says in answer["message"], (why, answer)
    assert devices() == [] and audit_actions() == []


def test_the_test_service_itself_is_refused_over_plain_http_unless_allowed(app, service, maria):
    app.config["PUSH_ALLOW_PLAIN_HTTP"] = False
    response = turn_on(signed_in(app, maria), service.new_browser(None).form())
    assert response.status_code == 400 and "secure (https)" in response.get_json()["message"]
    assert devices() == []


def test_plain_http_is_never_allowed_in_production(app, service):
    device = service.new_browser(None)
    assert push_devices.endpoint_problem(device.endpoint) is None
    app.config["ENV_NAME"] = "production"
    assert "https" in push_devices.endpoint_problem(device.endpoint)


def test_wildcard_hosts_admit_names_under_them_only(app):
    problem = push_devices.endpoint_problem
    assert problem("https://web.push.apple.com/QGz1TkZ") is None
    assert problem("https://wns2-by3p.notify.windows.com/w/?token=BQYAAA") is None
    assert problem("https://fcm.googleapis.com/fcm/send/dGhpcyBpcyBh") is None
    assert problem("https://updates.push.services.mozilla.com/wpush/v2/gAAAA") is None
    assert problem("https://evilpush.apple.com/x") is not None
    assert problem("https://web.push.apple.com.evil.example/x") is not None


BAD_KEYS = {
    "missing p256dh": "key is missing", "p256dh not base64url": "key is missing",
    "p256dh too short": "key is missing", "p256dh compressed": "key is missing",
    "p256dh not a point": "not a valid key", "p256dh oversize": "key is missing",
    "missing auth": "secret is missing", "auth of 15 bytes": "secret is missing",
    "auth oversize": "secret is missing",
}


def _bad_key(device, why: str) -> dict:
    point = push.b64url_decode(device.p256dh)
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    return {
        "missing p256dh": {"p256dh": ""},
        "p256dh not base64url": {"p256dh": "not base64!"},
        "p256dh too short": {"p256dh": device.p256dh[:-4]},
        "p256dh compressed": {"p256dh": push.b64url(b"\x02" + point[1:33])},
        "p256dh not a point": {"p256dh": push.b64url(off_curve)},
        "p256dh oversize": {"p256dh": "A" * 300},
        "missing auth": {"auth": ""},
        "auth of 15 bytes": {"auth": push.b64url(b"1" * 15)},
        "auth oversize": {"auth": "A" * 150},
    }[why]


@pytest.mark.parametrize("why", sorted(BAD_KEYS))
def test_missing_or_malformed_keys_are_refused_and_nothing_stored(app, service, maria, why):
    device = service.new_browser(None)
    response = turn_on(signed_in(app, maria), {**device.form(), **_bad_key(device, why)})
    assert response.status_code == 400, why
    assert BAD_KEYS[why] in response.get_json()["message"], (why, response.get_json())
    assert devices() == [] and audit_actions() == []


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.one_of(st.text(max_size=60), st.builds(
           lambda prefix, rest: prefix + rest,
           st.sampled_from(["https://fcm.googleapis.com/", "https://web.push.apple.com/", "https://",
                            "http://127.0.0.1:1/", "https://[", "https://a@", "//"]),
           st.text(max_size=40))),
       p256dh=st.one_of(st.text(max_size=100), st.from_regex(r"\AB[A-Za-z0-9_-]{86}\Z")),
       auth=st.one_of(st.text(max_size=30), st.from_regex(r"\A[A-Za-z0-9_-]{22}\Z")))
def test_any_bad_subscription_is_a_clear_refusal(app, service, marias_browser, endpoint, p256dh, auth):
    """Whatever a page (or an attacker) sends: a JSON answer with a message, never a 5xx, and a
    device stored only when everything checked out."""
    fields = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in
              {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}.items()}
    before = len(devices())
    response = turn_on(marias_browser, fields)
    assert response.status_code in (200, 400), (fields, response.status_code)
    assert response.get_json()["message"]
    if response.status_code == 400:
        assert len(devices()) == before
    else:
        push_devices.check_subscription(fields["endpoint"], fields["p256dh"], fields["auth"])


@pytest.fixture
def marias_browser(app, maria):
    return signed_in(app, maria)


def test_missing_fields_altogether_are_refused(app, service, maria):
    response = signed_in(app, maria).post("/account/push", headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["message"]
    assert devices() == []


def test_the_same_endpoint_again_updates_it(app, service, maria):
    browser = signed_in(app, maria)
    device = service.new_browser(None)
    assert turn_on(browser, device.form()).status_code == 200
    [first] = devices()
    renewed = service.new_browser(None)  # new keys for the same endpoint (the browser renewed them)
    browser.environ_base["HTTP_USER_AGENT"] = FIREFOX_WINDOWS
    assert turn_on(browser, {**renewed.form(), "endpoint": device.endpoint}).status_code == 200
    [again] = devices()
    assert again.id == first.id and again.user_id == maria.id
    assert (again.p256dh, again.auth, again.device) == (renewed.p256dh, renewed.auth, "Firefox on Windows")
    assert [a for a, *_ in audit_actions()] == ["push_turned_on"]


def test_another_persons_endpoint_moves_to_her(app, service, maria):
    """A shared family tablet: the browser's subscription now tells Elena, never Maria."""
    elena = make_client(make_therapist(), "Elena")
    device = service.new_browser(None)
    assert turn_on(signed_in(app, maria), device.form()).status_code == 200
    [marias] = devices()
    waiting = OutboxItem(channel="push", purpose="notification", subscription_id=marias.id,
                         user_id=maria.id, body=push.push_payload("new_task", "/tasks/1"),
                         next_attempt_at=utcnow() + timedelta(hours=1))  # (quiet hours, say)
    db.session.add(waiting)
    db.session.commit()
    elena_browser = signed_in(app, elena)
    assert turn_on(elena_browser, device.form()).status_code == 200
    [moved] = devices()
    assert moved.user_id == elena.id and moved.endpoint == device.endpoint
    assert db.session.scalar(sa.select(sa.func.count(OutboxItem.id)).where(
        OutboxItem.user_id == maria.id)) == 0, "Maria's waiting push must not reach Elena's device"
    assert "on since" not in account_page(signed_in(app, maria)).split('id="push"')[1]
    assert ("push_moved_from_another_account", elena.id, maria.id) in audit_actions()


def test_at_most_ten_devices(app, service, maria):
    browser = signed_in(app, maria)
    first = service.new_browser(None)
    assert turn_on(browser, first.form()).status_code == 200
    for _ in range(9):
        assert turn_on(browser, service.new_browser(None).form()).status_code == 200
    eleventh = turn_on(browser, service.new_browser(None).form())
    assert eleventh.status_code == 400 and "10 of your devices" in eleventh.get_json()["message"]
    assert len(devices()) == 10
    assert turn_on(browser, first.form()).status_code == 200, "one already on may still be renewed"


def test_without_vapid_keys_push_is_off_and_the_page_says_so(app, maria):
    browser = signed_in(app, maria)
    assert not push.push_enabled()
    page = account_page(browser)
    assert "Push notifications are not set up at this practice" in page
    assert "data-push-url" not in page
    response = turn_on(browser, {"endpoint": "https://fcm.googleapis.com/fcm/send/abc",
                                 "p256dh": "x", "auth": "y"})
    assert response.status_code == 409 and "not set up" in response.get_json()["message"]
    assert devices() == []


def test_a_public_key_of_another_pair_turns_push_off(app, service):
    assert push.push_enabled()
    app.config["VAPID_PUBLIC_KEY"] = push.generate_vapid_keys()[1]
    assert "does not belong" in push.push_problem()
    app.config.update(VAPID_PUBLIC_KEY=None, VAPID_SUBJECT="someone")
    assert "VAPID_SUBJECT" in push.push_problem()


# --- turning push off -------------------------------------------------------------------------------

def test_turning_push_off_for_her_own_device(app, service, maria):
    browser = signed_in(app, maria)
    assert turn_on(browser, service.new_browser(None).form()).status_code == 200
    [stored] = devices()
    response = browser.post("/account/push/off", data={"device": stored.id})
    assert response.status_code == 302 and response.location.endswith("/account#push")
    assert devices() == []
    assert "Notifications are off for that device." in account_page(browser)
    assert [a for a, *_ in audit_actions()] == ["push_turned_on", "push_turned_off"]


def test_nobody_turns_off_another_persons_device_nor_learns_it_exists(app, service, maria):
    assert turn_on(signed_in(app, maria), service.new_browser(None).form()).status_code == 200
    [marias] = devices()
    other = signed_in(app, make_client(make_therapist(), "Priya"))
    answers = []
    for value in (marias.id, marias.id + 1000, "abc", "", "99999999999999999999"):
        response = other.post("/account/push/off", data={"device": value})
        answers.append((response.status_code, response.location, account_page(other).count("not on your list")))
    assert len(set(answers)) == 1 and answers[0][0] == 302 and answers[0][2] == 1
    assert devices() == [marias]


# --- sending ----------------------------------------------------------------------------------------

def subscribed(app, service, user):
    device = service.new_browser(push.vapid_public_key())
    assert turn_on(signed_in(app, user), device.form()).status_code == 200
    return device, devices()[-1]


def test_a_push_arrives_signed_and_decrypts_to_the_generic_payload(app, service, maria):
    device, stored = subscribed(app, service, maria)
    push.send_push(stored, push.push_payload("new_message", "/messages/3"))
    [got] = service.received
    assert json.loads(got.payload) == {"title": "Common Ground",
                                       "body": "You have a new message in Common Ground", "url": "/messages/3"}
    assert got.vapid_key == push.vapid_public_key()
    assert got.claims["aud"] == service.origin and got.claims["sub"] == SUBJECT
    assert got.headers["ttl"] == str(24 * 3600) and got.headers["urgency"] == "normal"
    assert got.headers["content-encoding"] == "aes128gcm"
    assert b"Common Ground" not in got.body and b"/messages/3" not in got.body, "sent encrypted"


def test_every_kind_of_notice_is_a_generic_sentence_and_a_local_path(app):
    from app.notifications.services import MESSAGES

    for kind in [*MESSAGES, "something_unknown"]:
        payload = json.loads(push.push_payload(kind, "/tasks/12"))
        assert set(payload) == {"title", "body", "url"}
        assert payload["title"] == "Common Ground" and payload["body"] in GENERIC
        assert payload["url"] == "/tasks/12"
    for link in ("https://evil.example/x", "//evil.example/x", "javascript:alert(1)", "/\\evil.example",
                 "", None, "/a b", "/" + "x" * 600):
        assert json.loads(push.push_payload("new_task", link))["url"] == "/notifications", link


def test_a_task_given_by_the_therapist_reaches_her_device_without_content(app, service):
    """End to end: the therapist gives a task, the outbox sends the push after the commit, the
    push service decrypts it: the generic sentence and a local path, no name, no title."""
    from app.notifications.deliverer import wait_until_delivered

    ruth = make_therapist("Ruth")
    maria = make_client(ruth, "Maria")
    device, _ = subscribed(app, service, maria)
    exercise = make_exercise(ruth, title="Letter to my sister about the inheritance",
                             instructions="Write about the argument at the funeral.")
    task = assign(ruth, maria, exercise, due=2)
    assert wait_until_delivered(), "the outbox did not deliver within 10 seconds"
    [got] = service.received
    payload = json.loads(got.payload)
    assert isinstance(payload, dict), f"the device got a JSON string, not the payload: {payload!r}"
    assert payload == {"title": "Common Ground", "body": "You have something new in Common Ground",
                       "url": payload["url"]}
    assert re.fullmatch(r"/[\w/-]*", payload["url"]), payload
    raw = got.payload.decode()
    for secret in ("Letter", "sister", "inheritance", "funeral", maria.name, ruth.name,
                   maria.name.split()[0], ruth.name.split()[0], maria.email, str(task.due_date)):
        assert secret.lower() not in raw.lower(), secret
    db.session.expire_all()
    [item] = db.session.scalars(sa.select(OutboxItem).where(OutboxItem.channel == "push")).all()
    assert item.status == "sent" and devices()[0].last_sent_at is not None


def test_through_the_outbox_a_gone_device_is_forgotten_and_a_failed_push_waits(app, service):
    """The outbox acts on send_push's answer: 410, the device is deleted; 503, the push waits
    for a retry and what it keeps of the error names no secret part of the endpoint."""
    from app.notifications.deliverer import wait_until_delivered

    ruth = make_therapist("Ruth")
    maria = make_client(ruth, "Maria")
    gone_device, gone = subscribed(app, service, maria)
    down_device, down = subscribed(app, service, maria)
    service.answer_always(gone_device, 410)
    service.answer_always(down_device, 503)
    assign(ruth, maria, due=2)
    assert wait_until_delivered()
    db.session.expire_all()
    assert [d.id for d in devices()] == [down.id]
    [waiting] = db.session.scalars(sa.select(OutboxItem).where(OutboxItem.subscription_id == down.id)).all()
    assert waiting.status == "pending" and "503" in waiting.last_error
    assert down_device.endpoint.rsplit("/", 1)[1] not in waiting.last_error
    assert not service.received


@pytest.mark.parametrize("status", [404, 410])
def test_a_device_the_push_service_no_longer_knows_is_push_gone(app, service, maria, status):
    _, stored = subscribed(app, service, maria)
    service.answer_next(status)
    with pytest.raises(push.PushGone) as gone:
        push.send_push(stored, push.push_payload("new_task", "/home"))
    assert str(status) in str(gone.value)
    assert stored.endpoint.rsplit("/", 1)[1] not in str(gone.value)


@pytest.mark.parametrize("status", [500, 503, 429, 413, 403])
def test_other_answers_are_push_failed_to_try_again(app, service, maria, status):
    _, stored = subscribed(app, service, maria)
    service.answer_next(status)
    with pytest.raises(push.PushFailed) as failed:
        push.send_push(stored, push.push_payload("new_task", "/home"))
    assert f"answered {status}" in str(failed.value)
    assert stored.endpoint.rsplit("/", 1)[1] not in str(failed.value), "the endpoint's secret part"
    if status == 429:
        assert failed.value.retry_after == "30"
    assert not service.received


def test_a_push_service_that_does_not_answer_is_push_failed(app, service, maria):
    _, stored = subscribed(app, service, maria)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    token = stored.endpoint.rsplit("/", 1)[1]
    elsewhere = PushSubscription(endpoint=f"http://127.0.0.1:{closed}/push/{token}",
                                 p256dh=stored.p256dh, auth=stored.auth)
    app.config["PUSH_SERVICE_HOSTS"] = [*app.config["PUSH_SERVICE_HOSTS"], f"127.0.0.1:{closed}"]
    with pytest.raises(push.PushFailed) as failed:
        push.send_push(elsewhere, push.push_payload("new_task", "/home"))
    assert "no answer" in str(failed.value) and token not in str(failed.value)


def test_a_device_on_a_host_no_longer_allowed_is_never_sent_to(app, service, maria):
    _, stored = subscribed(app, service, maria)
    app.config["PUSH_SERVICE_HOSTS"] = ["fcm.googleapis.com"]
    with pytest.raises(push.PushGone):
        push.send_push(stored, push.push_payload("new_task", "/home"))
    assert not service.received


def test_without_keys_send_push_fails_without_sending(app, service, maria):
    _, stored = subscribed(app, service, maria)
    app.config["VAPID_PRIVATE_KEY"] = None
    with pytest.raises(push.PushFailed):
        push.send_push(stored, push.push_payload("new_task", "/home"))
    assert not service.received


def test_a_signature_by_another_key_is_refused_by_the_push_service(app, service, maria):
    """The push service really checks: signed with a key the browser did not subscribe with."""
    _, stored = subscribed(app, service, maria)
    other_private, other_public = push.generate_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=other_private, VAPID_PUBLIC_KEY=other_public)
    with pytest.raises(push.PushFailed, match="answered 403"):
        push.send_push(stored, push.push_payload("new_task", "/home"))
    assert service.refused == ["the VAPID key is not the one the browser subscribed with"]
    service.refused.clear()


# --- flask vapid-keys ---------------------------------------------------------------------------------

def test_vapid_keys_prints_keys_that_sign_a_push_the_service_verifies(app, service, maria):
    result = app.test_cli_runner().invoke(args=["vapid-keys", "--subject", "mailto:office@practice.example"])
    assert result.exit_code == 0, result.output
    printed = dict(line.split("=", 1) for line in result.output.splitlines()
                   if re.match(r"^VAPID_[A-Z_]+=", line))
    assert set(printed) == {"VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "VAPID_SUBJECT"}
    assert len(push.b64url_decode(printed["VAPID_PUBLIC_KEY"])) == 65
    assert printed["VAPID_PUBLIC_KEY"] != push.vapid_public_key(), "a new pair each time"
    app.config.update(printed)
    assert push.push_enabled() and push.vapid_public_key() == printed["VAPID_PUBLIC_KEY"]
    device, stored = subscribed(app, service, maria)  # the browser subscribes with the printed key
    assert device.server_key == printed["VAPID_PUBLIC_KEY"]
    push.send_push(stored, push.push_payload("new_task", "/home"))
    [got] = service.received
    assert got.vapid_key == printed["VAPID_PUBLIC_KEY"] and got.claims["sub"] == "mailto:office@practice.example"
    again = app.test_cli_runner().invoke(args=["vapid-keys", "--subject", "mailto:office@practice.example"])
    assert printed["VAPID_PRIVATE_KEY"] not in again.output


def test_vapid_keys_refuses_a_subject_push_services_would_refuse(app):
    result = app.test_cli_runner().invoke(args=["vapid-keys", "--subject", "office@practice.example"])
    assert result.exit_code != 0 and "--subject" in result.output


# --- the service worker and the page's script --------------------------------------------------------

def test_the_service_worker_is_served_at_the_root(app, client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    assert 'addEventListener("push"' in body and "showNotification" in body
    assert 'addEventListener("notificationclick"' in body and "self.location.origin" in body
    assert 'addEventListener("fetch"' not in body and "caches." not in body, "it caches nothing"
    signed = app.test_client()
    login(signed, make_client(make_therapist()))
    assert signed.get("/sw.js").headers["Cache-Control"] in ("no-cache", "no-store")


def test_the_account_page_works_without_inline_scripts(app, service, maria):
    browser = signed_in(app, maria)
    assert turn_on(browser, service.new_browser(None).form()).status_code == 200
    page = account_page(browser)
    section = page.split('id="push"', 1)[1]
    assert "<noscript>" in section and "Chrome on Android" in section
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all("src=" in tag for tag in scripts), "CSP script-src 'self': no inline script"
    assert '<script src="/static/js/push.js" defer>' in page
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"


def test_a_therapist_turns_push_on_too(app, service):
    ruth = make_therapist("Ruth")
    browser = signed_in(app, ruth, FIREFOX_WINDOWS)
    assert turn_on(browser, service.new_browser(None).form()).status_code == 200
    assert devices()[0].user_id == ruth.id and devices()[0].device == "Firefox on Windows"


def test_closing_her_account_forgets_her_devices(app, service, maria):
    from app.accounts.closing import close_account

    subscribed(app, service, maria)
    assert len(devices()) == 1
    close_account(maria.therapist, maria)
    assert devices() == []
