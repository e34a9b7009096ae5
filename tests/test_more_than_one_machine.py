"""No state lives in an app process: two gunicorn processes on one database (and one Redis) are
one site. A login session and a lockout started on one process hold on the other.

The login rate limit counted across two processes is shown in tests/test_throttling.py
(test_the_limit_holds_across_two_processes_sharing_redis); it is not repeated here."""
from __future__ import annotations

import copy
import os

import pytest

from app.accounts.routes import SIGN_IN_REFUSED  # the same answer when locked
from app.accounts.services import LOCKOUT_AFTER
from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, make_client, make_therapist
from tests.support.processes import Browser, redis_available, spawn_gunicorn, wait_ready

REDIS_URL = os.environ.get("CG_MACHINES_REDIS_URL", "redis://127.0.0.1:6379/4")


@pytest.fixture(scope="module")
def _machines(_app, tmp_path_factory):
    """Two gunicorn processes, A and B, on the suite's database and one Redis database. They
    hold no state of their own, so one pair serves every test of this module."""
    if not redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (CI starts it)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: the processes would share no limits")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with _app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    logs = tmp_path_factory.mktemp("machines")
    env = {"CG_REDIS": REDIS_URL, "CG_RATELIMIT_PREFIX": "cg-machines"}
    servers = [spawn_gunicorn(url, logs / f"gunicorn-{name}.log", workers=1, threads=2, extra_env=env)
               for name in ("a", "b")]
    try:
        wait_ready(servers)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def machines(app, _machines):
    db.session.commit()
    db.session.remove()
    return _machines


def _copy_of_cookies(browser: Browser, base: str) -> Browser:
    """Another browser holding the same cookies as `browser` has now (kept after it signs out)."""
    other = Browser(base)
    for cookie in browser.jar:
        other.jar.set_cookie(copy.copy(cookie))
    return other


def test_a_login_session_is_one_session_on_both_processes(app, machines):
    a, b = machines
    user = make_client(make_therapist())
    on_a = Browser(a.base)
    assert on_a.sign_in(user.email, PASSWORD).status == 302
    assert on_a.signed_in()
    on_b = on_a.with_base(b.base)
    assert on_b.signed_in(), "the session started on A is not known on B"
    kept = _copy_of_cookies(on_a, a.base)

    on_b.fetch_csrf("/home")
    assert on_b.post("/logout", {}, follow=False).status == 302
    assert not on_b.signed_in()
    # The cookie from before signing out still exists, but the session it names has ended.
    assert not kept.signed_in(), "a session ended on B still works on A"
    assert not _copy_of_cookies(kept, b.base).signed_in()


def test_a_lockout_reached_across_both_processes_holds_on_both(app, machines):
    a, b = machines
    user = make_client(make_therapist())
    second = make_client(make_therapist())
    on_a, on_b = Browser(a.base), Browser(b.base)
    for _ in range(LOCKOUT_AFTER - 1):
        failed = on_a.sign_in(user.email, "not the password at all")
        assert failed.status == 200 and SIGN_IN_REFUSED in failed.body
    failed = on_b.sign_in(user.email, "not the password either")
    assert failed.status == 200 and SIGN_IN_REFUSED in failed.body

    for browser in (on_a, on_b):
        refused = browser.sign_in(user.email, PASSWORD)
        assert refused.status == 200, (refused.status, refused.body[:500])
        assert SIGN_IN_REFUSED in refused.body
        assert not browser.signed_in()
    # The lock is the account's, not a process's or an address's: another account signs in.
    other = Browser(b.base)
    assert other.sign_in(second.email, PASSWORD).status == 302 and other.signed_in()
    db.session.remove()
    stored = db.session.get(User, user.id)
    assert stored.failed_logins == LOCKOUT_AFTER and stored.locked_until is not None

