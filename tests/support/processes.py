"""Start the app under a real gunicorn for a test, and talk to it over HTTP with stdlib only."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_available(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Gunicorn:
    port: int
    process: subprocess.Popen
    log_path: Path
    workers: int = 1

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def spawn_gunicorn(database_url: str, log_path: Path, *, workers: int = 3, threads: int = 4,
                   extra_env: dict | None = None, shipped_config: bool = False) -> Gunicorn:
    """Start gunicorn with `workers` gthread workers on a free port (see wait_ready); with
    shipped_config, as deploy/gunicorn.conf.py sets it up (its workers, threads and timeouts)."""
    port = free_port()
    env = dict(os.environ, CG_DB=database_url, PYTHONPATH=str(ROOT), **(extra_env or {}))
    log = open(log_path, "w")
    if shipped_config:
        settings = ["-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "--access-logfile", "/dev/null"]
        workers = int(env.get("GUNICORN_WORKERS", "2"))
    else:
        settings = ["--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
                    "--timeout", "30"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *settings, "--bind", f"127.0.0.1:{port}",
         "--error-logfile", "-", "--capture-output", "--log-level", "info",
         "tests.support.gunicorn_app:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return Gunicorn(port, process, Path(log_path), workers)


def wait_ready(servers: list[Gunicorn], timeout: float = 90) -> None:
    """Wait until every worker of every server has booted and the login page answers."""
    deadline = time.monotonic() + timeout
    waiting = list(servers)
    while waiting and time.monotonic() < deadline:
        for server in list(waiting):
            if server.process.poll() is not None:
                for other in servers:
                    other.stop()
                raise RuntimeError(f"gunicorn exited:\n{server.log()[-3000:]}")
            if server.log().count("Booting worker") >= server.workers:
                try:
                    if Browser(server.base).get("/login").status == 200:
                        waiting.remove(server)
                except OSError:
                    pass
        time.sleep(0.2)
    if waiting:
        for server in servers:
            server.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout} s:\n{waiting[0].log()[-3000:]}")


def start_gunicorn(database_url: str, log_path: Path, **kwargs) -> Gunicorn:
    """spawn_gunicorn, returning once it answers."""
    server = spawn_gunicorn(database_url, log_path, **kwargs)
    wait_ready([server])
    return server


@dataclass
class Response:
    status: int
    body: str
    url: str

    def json(self) -> dict:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One browser: its own cookie jar; follows redirects unless told not to."""

    def __init__(self, base: str, timeout: float = 40):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self._follow = urllib.request.build_opener(cookies)
        self._stay = urllib.request.build_opener(cookies, _NoRedirect())
        self.csrf_token: str | None = None

    def with_base(self, base: str) -> "Browser":
        """The same cookies, sent to another server (another machine of the same site)."""
        other = Browser(base, self.timeout)
        other.jar = self.jar
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        other._follow = urllib.request.build_opener(cookies)
        other._stay = urllib.request.build_opener(cookies, _NoRedirect())
        other.csrf_token = self.csrf_token
        return other

    def _open(self, request: urllib.request.Request, follow: bool) -> Response:
        opener = self._follow if follow else self._stay
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return Response(response.status, response.read().decode("utf-8", "replace"),
                                response.geturl())
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace") if error.fp else ""
            return Response(error.code, body, error.geturl() or request.full_url)

    def get(self, path: str, follow: bool = True) -> Response:
        return self._open(urllib.request.Request(self.base + path), follow)

    def post(self, path: str, fields: dict, follow: bool = True, headers: dict | None = None,
             with_csrf: bool = True) -> Response:
        data = dict(fields)
        if with_csrf and self.csrf_token:
            data.setdefault("csrf_token", self.csrf_token)
        request = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(data).encode(),
                                         headers=headers or {}, method="POST")
        return self._open(request, follow)

    def fetch_csrf(self, path: str = "/login") -> str:
        page = self.get(path)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.body) or \
            re.search(r'name="csrf_token" value="([^"]+)"', page.body)
        assert match, f"no CSRF token on {path} ({page.status})"
        self.csrf_token = match.group(1)
        return self.csrf_token

    def sign_in(self, email: str, password: str) -> Response:
        """The login form, as a person fills it in (no redirect followed)."""
        self.fetch_csrf("/login")
        return self.post("/login", {"email": email, "password": password}, follow=False)

    def signed_in(self) -> bool:
        """Whether the home page opens (an anonymous visitor is sent to the login page)."""
        response = self.get("/home", follow=False)
        return response.status == 200
