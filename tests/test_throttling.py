"""Sign-in throttling per address and per account; with Redis, shared by several processes."""
import http.client
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.extensions import db, limiter
from tests.conftest import PASSWORD, make_client, make_therapist

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def throttled(app):
    """Rate limits counted afresh (the test lowers them in app.config)."""
    limiter.reset()
    yield app
    limiter.reset()


def _attempt(client, email, password="a wrong guess, again"):
    return client.post("/login", data={"email": email, "password": password})


def test_too_many_attempts_on_one_account_are_refused(throttled):
    throttled.config["LOGIN_RATE_PER_ACCOUNT"] = "3 per minute"
    user = make_client(make_therapist())
    browser = throttled.test_client()
    statuses = [_attempt(browser, user.email).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Another account from the same address is not affected by this account's limit.
    assert _attempt(browser, "someone.else@example.org").status_code == 200


def test_too_many_attempts_from_one_address_are_refused(throttled):
    throttled.config["LOGIN_RATE_PER_ADDRESS"] = "5 per minute"
    browser = throttled.test_client()
    statuses = [_attempt(browser, f"person{i}@example.org").status_code for i in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    assert "Too many attempts" in _attempt(browser, "x@example.org").get_data(as_text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _post(port, path, fields, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("POST", path, body=urlencode(fields), headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def _get(port, path, cookie):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    return response


@pytest.fixture
def two_processes(app):
    if not _redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (CI starts it)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    ports = [_free_port(), _free_port()]
    env = dict(os.environ, CG_DB=str(db.engine.url.render_as_string(hide_password=False)),
               CG_REDIS=REDIS_URL, CG_RATELIMIT_PREFIX=f"cg-test-{uuid.uuid4().hex}",
               CG_ACCOUNT_RATE="4 per minute", PYTHONPATH=str(ROOT))
    processes = [subprocess.Popen([sys.executable, "-m", "tests.support.serve", str(port)], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for port in ports]
    try:
        for process in processes:
            line = process.stdout.readline().strip()
            assert line == "ready", process.stderr.read()[-2000:] if process.poll() is not None else line
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def test_the_limit_holds_across_two_processes_sharing_redis(app, two_processes):
    a, b = two_processes
    user = make_client(make_therapist())
    statuses = [_post(port, "/login", {"email": user.email, "password": "wrong guess each time"}).status
                for port in (a, b, a, b, a)]
    assert statuses == [200, 200, 200, 200, 429]


def test_a_session_started_on_one_process_works_on_the_other(app, two_processes):
    a, b = two_processes
    user = make_client(make_therapist())
    signed = _post(a, "/login", {"email": user.email, "password": PASSWORD})
    assert signed.status == 302
    cookie = "; ".join(c.split(";")[0] for c in signed.headers.get_all("Set-Cookie"))
    assert _get(b, "/home", cookie).status == 200
    assert _get(b, "/home", "").status == 302


def test_limiter_hooks_run_only_on_throttled_views(throttled, monkeypatch):
    """The limiter's per-request hooks are skipped on views it does not throttle (they cost
    every request a fraction of a millisecond) and still run on the sign-in form."""
    from app.web import throttling

    guarded = [hook for hook in throttled.before_request_funcs[None]
               if hasattr(hook, "cg_limited_endpoints")]
    assert len(guarded) == 1
    assert {"accounts.login", "therapy_sessions.calendar_feed"} <= guarded[0].cg_limited_endpoints
    assert "health.healthz" not in guarded[0].cg_limited_endpoints
    assert any(hasattr(hook, "cg_limited_endpoints") for hook in throttled.after_request_funcs[None])
    assert any(hasattr(hook, "cg_limited_endpoints")
               for hook in throttled.teardown_request_funcs[None])

    calls = []
    original = limiter._check_request_limit
    monkeypatch.setattr(limiter, "_check_request_limit",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    browser = throttled.test_client()
    assert browser.get("/healthz").status_code == 200
    assert calls == []
    assert browser.post("/login", data={"email": "x@example.org", "password": "wrong"}).status_code == 200
    assert calls  # the decorator's own check
    assert throttling._is_limited(throttled.view_functions["accounts.login"], limiter)
