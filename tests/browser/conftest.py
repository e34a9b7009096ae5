"""Browser tests: Playwright (pytest-playwright) driving Debian's Chromium against the app served
by a real WSGI server in a thread. No browser is ever downloaded.

Without Chromium these tests skip with the reason; with CG_REQUIRE_BROWSER=1 (CI) that skip is a
failure instead."""
from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_PATHS = ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]


def _required() -> bool:
    return os.environ.get("CG_REQUIRE_BROWSER") == "1"


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    for candidate in ([configured] if configured else []) + CHROMIUM_PATHS:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    return found


def _missing(reason: str):
    if _required():
        pytest.fail(f"{reason} (CG_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args():
    path = chromium_path()
    if path is None:
        _missing("no Chromium found (install Debian's 'chromium' package; tried "
                 + ", ".join(CHROMIUM_PATHS) + ")")
    return {"executable_path": path, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args():
    return {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB",
            "timezone_id": "Europe/London"}


@pytest.fixture(scope="session")
def live_server(_app):
    """The app served over HTTP on a free loopback port for the whole session."""
    server = make_server("127.0.0.1", 0, _app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def base(app, live_server, page):
    """The server's address, with an emptied database; pages time out fast when something is wrong."""
    page.set_default_timeout(10_000)
    return live_server


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        _missing("axe-core is not installed (run `npm ci` at the top of the repository)")
    return AXE.read_text()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(caseload|home|login/verify)$"))
    if page.url.endswith("/login/verify"):
        import sqlalchemy as sa

        from app.extensions import db
        from app.models import User
        from tests.conftest import fresh_totp_code

        user = db.session.scalar(sa.select(User).where(User.email == email))
        page.get_by_label("Code from your authenticator app").fill(fresh_totp_code(user))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r".*/(caseload|home)$"))


def new_signed_in_page(browser, base: str, user, password: str, **context_args):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_args})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, base, user.email, password)
    return page
