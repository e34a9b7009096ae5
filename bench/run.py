"""`make bench`: Common Ground under gunicorn, on SQLite and on PostgreSQL, driven by wrk.

For each database: a fresh database, `flask db upgrade`, `flask seed-scale --factor F` (timed),
gunicorn (bench/gunicorn.conf.py) with a production-like configuration, sign-in over HTTP as a
therapist and two clients, one checked request per page, the SQL queries of each page counted
in-process, then wrk (bench/wrk.lua) on /healthz and on every key page. Prints a table and
writes bench/results.json. See bench/README.md.

    python bench/run.py                          # both databases, factor 1, 10 s per page
    python bench/run.py --factor 10              # 10x the data (runs carry a "factor" field)
    python bench/run.py --databases sqlite --duration 3 --skip-seed
    python bench/run.py --profile client_page --requests 200   # pyinstrument, bench/profiles/
    python bench/run.py --compare                # the 10x table from bench/results.json
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
PROFILES_DIR = BENCH_DIR / "profiles"
DEFAULT_RESULTS = BENCH_DIR / "results.json"
STATE_FILE = DATA_DIR / "state.json"
KEYS_FILE = DATA_DIR / "keys.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/cg_bench"
USER_AGENT = "common-ground-bench/1 (wrk)"
COOKIE_NAME = "cg_session"
# In-process requests go over "http", like the bench's own: the test client would otherwise take
# ProductionConfig's PREFERRED_URL_SCHEME (https), and CSRF would then demand a Referer.
BASE_URL = "http://localhost/"

# Targets (bench/README.md). Reported, never enforced by changing what is measured.
TARGET_RATIO = 0.10        # every read page >= 10 % of /healthz throughput (issue 23)
GOAL_RATIO = 0.35          # the lasting goal beyond it: reported as the distance to go
TARGET_P95_MS = 60.0       # p95 at 8 connections, read pages and autosave
TARGET_P95_MS_BY_PAGE = {"submit": 100.0}
TARGET_SERVICE_MS = 6.0    # in-process median service time of a read page
TARGET_SIGN_IN_CPU_MS = 0.75  # the fixed cost of a request: the sign-in page's CPU in-process
TARGET_QUERIES = 8         # SQL statements per request
TARGET_GROWTH = 1.5        # p95 at 10x the data / p95 at 1x
TARGET_RSS_MB = 150.0      # resident memory of each worker

ANSWER = ("I tried it on Sunday when she called. I noticed the old irritation rising and, "
          "instead of answering back, I asked her how her week had been. It was awkward at "
          "first, then easier. I am not sure it changed much, but I stayed calmer than usual. ")


# --- pages -------------------------------------------------------------------------------------

@dataclass
class Page:
    name: str
    as_role: str           # "anonymous", "therapist", "client" or "submitter"
    path: str              # may hold {client_id}, {pair_id}, {open_task_id}, {reflection_id}, {id}
    method: str = "GET"
    expect: int = 200
    body: str = ""         # "autosave" or "submit"
    what: str = ""


PAGES = [
    Page("healthz", "anonymous", "/healthz", what="the stack's ceiling: one SELECT 1, JSON"),
    Page("sign_in_page", "anonymous", "/login",
         what="the sign-in page: the fixed cost of a request (a form, no database row)"),
    Page("therapist_home", "therapist", "/caseload",
         what="therapist home = caseload dashboard (/ redirects therapists here)"),
    Page("caseload_sorted", "therapist", "/caseload?sort=unreviewed",
         what="the caseload sorted by a figure (waiting for review): every client's figures, "
              "sorted and paged by the database"),
    Page("review_queue", "therapist", "/review", what="reflections waiting for review"),
    Page("client_page", "therapist", "/clients/{client_id}",
         what="one client as her therapist sees it: tasks, sessions, two SVG charts, timeline"),
    Page("pair_page", "therapist", "/pairs/{pair_id}",
         what="mother and daughter side by side, pair chart"),
    Page("reflection_read", "therapist", "/reflections/{reflection_id}",
         what="the therapist reads one submitted reflection (extra)"),
    Page("client_home", "client", "/home", what="the client's home: her task board"),
    Page("task_with_draft", "client", "/tasks/{open_task_id}",
         what="an open task with its saved draft (the writing page)"),
    Page("autosave", "client", "/tasks/{open_task_id}/draft", method="POST", body="autosave",
         what="the page script's draft autosave (form POST, JSON answer)"),
    Page("submit", "submitter", "/tasks/{id}", method="POST", expect=302, body="submit",
         what="send a reflection (each task once; POST then redirect)"),
]
PAGE_NAMES = [p.name for p in PAGES]


# --- environment, keys, databases --------------------------------------------------------------

def bench_keys() -> dict:
    """SECRET_KEY and ENCRYPTION_KEYS kept in bench/data/, so that seeded data stays readable
    by later runs (--skip-seed) and seed time and serve time use the same key."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if KEYS_FILE.exists():
        return json.loads(KEYS_FILE.read_text())
    keys = {"SECRET_KEY": secrets.token_hex(32),
            "ENCRYPTION_KEYS": "bench1:" + base64.b64encode(os.urandom(32)).decode()}
    KEYS_FILE.write_text(json.dumps(keys))
    return keys


def app_env(url: str, env_name: str = "production") -> dict:
    """The environment of the app under test: production config, but cookies over plain http."""
    env = dict(os.environ)
    for name in ("TEST_DATABASE_URL", "FLASK_DEBUG", "MAIL_SERVER"):
        env.pop(name, None)
    env.update(bench_keys())
    env.update({
        "FLASK_APP": "wsgi",
        "COMMON_GROUND_ENV": env_name,
        "DATABASE_URL": url,
        "SESSION_COOKIE_SECURE": "0",   # the only departure from production: http on 127.0.0.1
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def sqlite_url(factor: int) -> str:
    return f"sqlite:///{DATA_DIR / f'bench-f{factor}.sqlite'}"


def flask_bin() -> str:
    candidate = Path(sys.executable).parent / "flask"
    return str(candidate) if candidate.exists() else "flask"


def run_flask(args: list[str], url: str, env_name: str = "development") -> subprocess.CompletedProcess:
    result = subprocess.run([flask_bin(), *args], cwd=ROOT, env=app_env(url, env_name),
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"`flask {' '.join(args)}` failed (exit {result.returncode})")
    return result


def create_database_if_missing(url: str) -> None:
    """A fresh machine has no cg_bench database: make it (through the server's `postgres`
    database, with the same user), so that `make bench` runs from a fresh clone."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    target = make_url(url)
    maintenance = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
        print(f"created the database {target.database}")


def reset_database(database: str, url: str) -> None:
    """An empty database: a new SQLite file, or a new public schema in PostgreSQL."""
    if database == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg
    create_database_if_missing(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def load_state() -> dict:
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def seed_scale_ready() -> bool:
    """True once app/ops/scale.py has its bench_subjects (until then the demo data stands in)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        import importlib
        scale = importlib.import_module("app.ops.scale")
    except Exception:
        return False
    return callable(getattr(scale, "bench_subjects", None))


def prepare_data(database: str, url: str, factor: int, seed: str, skip_seed: bool) -> dict:
    """Fresh database, migrations, seed; returns what was seeded and how long it took."""
    state = load_state()
    if skip_seed:
        info = state.get(url)
        if not info:
            raise SystemExit(f"--skip-seed: {url} was never seeded by bench/run.py; run without it.")
        if info["factor"] != factor:
            raise SystemExit(f"--skip-seed: {url} holds factor {info['factor']} data, not {factor}.")
        print(f"  reusing data seeded {info['seeded_at']} ({info['source']}, factor {factor})")
        return dict(info, reused=True)
    source = seed
    if source == "auto":
        source = "seed-scale" if seed_scale_ready() else "seed-demo"
    if source == "seed-demo" and factor != 1:
        raise SystemExit("--factor needs `flask seed-scale` (app/ops/scale.py is still a placeholder).")
    print(f"  fresh database, flask db upgrade, flask {source}"
          + (f" --factor {factor}" if source == "seed-scale" else ""))
    reset_database(database, url)
    started = time.perf_counter()
    run_flask(["db", "upgrade"], url)
    migrate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if source == "seed-scale":
        run_flask(["seed-scale", "--factor", str(factor)], url)
    else:
        run_flask(["seed-demo"], url)
    seed_seconds = time.perf_counter() - started
    info = {"factor": factor, "source": source, "seed_seconds": round(seed_seconds, 2),
            "migrate_seconds": round(migrate_seconds, 2),
            "seeded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    state[url] = info
    STATE_FILE.write_text(json.dumps(state, indent=2))
    print(f"  seeded in {seed_seconds:.1f} s (migrations {migrate_seconds:.1f} s)")
    return dict(info, reused=False)


# --- the app in-process (query counts, subjects, profiling) ------------------------------------

_apps: dict[str, object] = {}


def make_app(url: str):
    """The app on `url` with the same configuration gunicorn serves (production, http cookies)."""
    if url in _apps:
        return _apps[url]
    os.environ.update({k: v for k, v in app_env(url).items()
                       if k in ("SECRET_KEY", "ENCRYPTION_KEYS", "COMMON_GROUND_ENV",
                                "SESSION_COOKIE_SECURE", "TRUSTED_HOSTS")})
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import logging

    from app import create_app
    from config import ProductionConfig, normalise_database_url

    keys = bench_keys()

    class BenchConfig(ProductionConfig):
        SECRET_KEY = keys["SECRET_KEY"]
        ENCRYPTION_KEYS = keys["ENCRYPTION_KEYS"]
        SQLALCHEMY_DATABASE_URI = normalise_database_url(url)
        SESSION_COOKIE_SECURE = False
        REMEMBER_COOKIE_SECURE = False
        TRUSTED_HOSTS = ["127.0.0.1", "localhost"]

    application = create_app(BenchConfig)
    logging.getLogger().setLevel(logging.WARNING)
    _apps[url] = application
    return application


def demo_subjects(submit_count: int) -> dict:
    """Stand-in for app.ops.scale.bench_subjects on `flask seed-demo` data: Ruth Alder's client
    Maria (in a pair with Elena) and, as the submitter, Sam Okafor's client Priya, who is given
    `submit_count` open tasks with drafts (so submits never touch Ruth's pages)."""
    import sqlalchemy as sa

    from app.core.clock import today_for
    from app.extensions import db
    from app.models import (
        REFLECTION_DRAFT,
        REFLECTION_SUBMITTED,
        TASK_OPEN,
        Assignment,
        Exercise,
        PairMember,
        Reflection,
        User,
    )
    from app.ops.demo import DEMO_PASSWORD, DEMO_TOTP_SECRETS, _demo_reflection, _demo_task

    def user(email):
        found = db.session.scalar(sa.select(User).where(User.email == email))
        if found is None:
            raise SystemExit(f"demo account {email} is missing: was `flask seed-demo` run?")
        return found

    therapist, client = user("ruth.alder@example.com"), user("maria.lopez@example.com")
    partner, submitter = user("elena.lopez@example.com"), user("priya.nair@example.com")
    pair_id = db.session.scalar(sa.select(PairMember.pair_id).where(PairMember.user_id == client.id))

    def open_with_draft(person):
        return list(db.session.scalars(
            sa.select(Assignment.id).join(Reflection, Reflection.assignment_id == Assignment.id)
            .where(Assignment.client_id == person.id, Assignment.status == TASK_OPEN,
                   Reflection.status == REFLECTION_DRAFT).order_by(Assignment.id)))

    submit_ids = open_with_draft(submitter)
    missing = submit_count - len(submit_ids)
    if missing > 0:
        exercise = db.session.scalar(sa.select(Exercise).where(Exercise.built_in.is_(True),
                                                              Exercise.family == "stay_present"))
        today = today_for(submitter)
        for _ in range(missing):
            task = _demo_task(submitter, exercise, today + dt.timedelta(days=7))
            _demo_reflection(task, submitter, None, resentment=5, closeness=5, present="partly")
        db.session.commit()
        submit_ids = open_with_draft(submitter)
    reflection_id = db.session.scalar(
        sa.select(Reflection.id).where(Reflection.author_id == client.id,
                                       Reflection.status == REFLECTION_SUBMITTED)
        .order_by(Reflection.id))
    return {
        "therapist_email": therapist.email, "client_email": client.email,
        "partner_email": partner.email, "client_id": client.id, "partner_id": partner.id,
        "pair_id": pair_id, "open_task_id": open_with_draft(client)[0],
        "reflection_id": reflection_id, "submitter_email": submitter.email,
        "submit_task_ids": submit_ids, "password": DEMO_PASSWORD,
        "totp_secret": DEMO_TOTP_SECRETS[therapist.email],
    }


def get_subjects(app, source: str, submit_count: int) -> dict:
    with app.app_context():
        if source == "seed-scale":
            from app.ops.scale import bench_subjects
            subjects = dict(bench_subjects())
        else:
            subjects = demo_subjects(submit_count)
        subjects["data"] = data_volume()
        from app.extensions import db
        db.session.remove()
    return subjects


def data_volume() -> dict:
    import sqlalchemy as sa

    from app.extensions import db
    counts = {}
    for table in ("users", "assignments", "reflections", "feedback", "therapy_sessions",
                  "audit_events", "notifications"):
        if table in db.metadata.tables:
            counts[table] = db.session.scalar(
                sa.select(sa.func.count()).select_from(db.metadata.tables[table]))
    return counts


class QueryCounter:
    """Counts the SQL statements the app sends (SQLAlchemy's before_cursor_execute)."""

    def __init__(self, engine):
        import sqlalchemy as sa
        self.count = 0
        self.statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        self.statements.append(statement.split("\n", 1)[0][:120])

    def reset(self):
        self.count = 0
        self.statements = []


# --- HTTP: sign-in and checks ------------------------------------------------------------------

class BrowserBase:
    def get(self, path):
        return self.request("GET", path)

    def post(self, path, data):
        return self.request("POST", path, data)

    def follow(self, status, headers, limit=5):
        """Follow redirects (GET), as a browser would."""
        while status in (301, 302, 303) and limit:
            status, headers, _ = self.get(headers["location"])
            limit -= 1
        return status, headers


class Browser(BrowserBase):
    """Just enough of a browser over http.client: cookies, no automatic redirects."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, data: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = {"User-Agent": USER_AGENT, "Accept": "text/html,application/json"}
        if self.cookies:
            sent["Cookie"] = self.cookie_header()
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        for value in response.msg.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        headers_out = {k.lower(): v for k, v in response.getheaders()}
        conn.close()
        return response.status, headers_out, payload


class TestClientBrowser(BrowserBase):
    """The same interface over the Flask test client (for --profile)."""

    def __init__(self, app):
        self.client = app.test_client()
        self.headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/json"}

    def request(self, method, path, data=None, headers=None):
        response = self.client.open(path, method=method, data=data, base_url=BASE_URL,
                                    headers=dict(self.headers, **(headers or {})))
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.data

    def cookie_value(self):
        cookie = self.client.get_cookie(COOKIE_NAME)
        return cookie.value if cookie else None


def csrf_token_from(html: bytes) -> str:
    text = html.decode("utf-8", "replace")
    match = (re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text)
             or re.search(r'name="csrf_token" value="([^"]+)"', text))
    if not match:
        raise SystemExit("no CSRF token in the page")
    return match.group(1)


def sign_in(browser, email: str, password: str, totp_secret: str | None) -> None:
    """Sign in through the real forms: password, then (therapists) the two-factor code."""
    status, _, page = browser.get("/login")
    if status != 200:
        raise SystemExit(f"GET /login answered {status}")
    status, headers, _ = browser.post("/login", {"email": email, "password": password,
                                                 "csrf_token": csrf_token_from(page)})
    if status != 302:
        raise SystemExit(f"sign-in of {email} refused (status {status})")
    if headers["location"].endswith("/login/verify"):
        if not totp_secret:
            raise SystemExit(f"{email} needs a two-factor code and no secret was given")
        import pyotp
        for _attempt in range(2):
            status, _, page = browser.get("/login/verify")
            code = pyotp.TOTP(totp_secret).now()
            status, headers, _ = browser.post("/login/verify", {"code": code,
                                                                "csrf_token": csrf_token_from(page)})
            if status == 302:
                break
            # Each code works once per account: if this one was used (an earlier run within the
            # same 30 seconds), wait for the next one.
            wait = 30 - time.time() % 30 + 1
            print(f"  two-factor code for {email} already used; waiting {wait:.0f} s for the next")
            time.sleep(wait)
        else:
            raise SystemExit(f"two-factor step failed for {email}")
    # Land on the home page, which also consumes any message flashed at sign-in.
    status, headers = browser.follow(status, headers)
    if status != 200:
        raise SystemExit(f"after sign-in {email} landed on status {status}")


# --- gunicorn ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def rss_mb(self) -> dict:
        def rss(pid):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
            return 0.0
        return {"master": rss(self.process.pid), "workers": [rss(p) for p in self.worker_pids()]}

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds (user + system) each worker has used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for pid in self.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return used

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(url: str, database: str, setup: dict, port: int | None) -> Server:
    port = port or free_port()
    log = DATA_DIR / f"gunicorn-{database}.log"
    env = app_env(url)
    env.update({"BENCH_BIND": f"127.0.0.1:{port}", "BENCH_WORKERS": str(setup["workers"]),
                "BENCH_WORKER_CLASS": setup["worker_class"], "BENCH_THREADS": str(setup["threads"]),
                "BENCH_KEEPALIVE": str(setup["keepalive"]),
                "BENCH_ERRORLOG": str(log)})
    gunicorn = Path(sys.executable).parent / "gunicorn"
    # The app logs to stderr (errors with their ids): keep it next to gunicorn's own log.
    with open(log.with_suffix(".app.log"), "w") as app_log:
        process = subprocess.Popen([str(gunicorn), "-c", str(BENCH_DIR / "gunicorn.conf.py"),
                                    "wsgi:app"], cwd=ROOT, env=env, stdout=app_log, stderr=app_log)
    server = Server(process, port, log)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited (code {process.returncode}); see {log} and "
                             f"{log.with_suffix('.app.log')}")
        try:
            status, _, _ = Browser("127.0.0.1", port).get("/healthz")
            if status == 200 and len(server.worker_pids()) >= setup["workers"]:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise SystemExit(f"gunicorn did not answer /healthz within 60 s; see {log}")


# --- wrk ---------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (`make bench` does this).")
    return found


def cpu_share(before: dict[int, float], after: dict[int, float]) -> list[float]:
    """How a page's load was spread over the workers: each worker's share of the CPU they used
    during the run, largest first ([0.5, 0.5] is even; [0.95, 0.05] is one worker doing it all,
    which keep-alive connections can cause, and which halves what two cores can serve)."""
    used = [after[pid] - before.get(pid, 0.0) for pid in after]
    total = sum(used)
    return sorted((round(u / total, 2) for u in used), reverse=True) if total > 0 else []


def run_wrk(port: int, env_extra: dict, duration: float, connections: int, threads: int) -> dict:
    env = dict(os.environ, BENCH_THREADS=str(threads), BENCH_UA=USER_AGENT, **env_extra)
    command = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
               "--timeout", "10s", "-s", str(BENCH_DIR / "wrk.lua"), f"http://127.0.0.1:{port}"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            measured = json.loads(line[len("BENCH_JSON "):])
            if measured["overrun"] and measured["active_seconds"] > 0:
                # The one-shot ids ran out before the duration: rate over the time really used.
                measured["rps"] = measured["requests"] / measured["active_seconds"]
            return measured
    raise SystemExit(f"wrk printed no result (exit {result.returncode}):\n{result.stdout}{result.stderr}")


def form_body(kind: str, csrf: str) -> dict:
    data = {"csrf_token": csrf, "resentment": "4", "closeness": "6", "stayed_present": "partly"}
    for i in range(6):  # more answers than any task has prompts: the extra ones are ignored
        data[f"answer_{i}"] = ANSWER * 3
    if kind == "submit":
        data["action"] = "submit"
    return data


# --- one run -----------------------------------------------------------------------------------

@dataclass
class Session:
    cookie: str       # the cg_session value
    csrf: str


def page_path(page: Page, subjects: dict, task_id=None) -> str:
    return page.path.format(client_id=subjects["client_id"], pair_id=subjects["pair_id"],
                            open_task_id=subjects["open_task_id"],
                            reflection_id=subjects["reflection_id"],
                            id="{id}" if task_id is None else task_id)


def open_sessions(port: int, subjects: dict) -> dict[str, Session]:
    """Sign each person in once (a two-factor code works only once) and keep the cookie."""
    people = {"therapist": (subjects["therapist_email"], subjects.get("totp_secret")),
              "client": (subjects["client_email"], None),
              "submitter": (subjects["submitter_email"], None)}
    csrf_pages = {"therapist": "/review", "client": f"/tasks/{subjects['open_task_id']}",
                  "submitter": f"/tasks/{subjects['submit_task_ids'][0]}"}
    sessions = {}
    for role, (email, totp) in people.items():
        browser = Browser("127.0.0.1", port)
        sign_in(browser, email, subjects["password"], totp)
        status, _, html = browser.get(csrf_pages[role])
        if status != 200:
            raise SystemExit(f"{role} {email}: GET {csrf_pages[role]} answered {status}")
        csrf = csrf_token_from(html) if role != "therapist" else ""
        sessions[role] = Session(browser.cookies[COOKIE_NAME], csrf)
    return sessions


def count_queries(app, page: Page, subjects: dict, session: Session | None, task_ids: list) -> dict:
    """One warm request, then one counted request, in-process with the same cookie."""
    from app.extensions import db
    with app.app_context():
        engine = db.engine
    counter = getattr(app, "_bench_counter", None)
    if counter is None:
        counter = app._bench_counter = QueryCounter(engine)
    client = app.test_client()
    if session:
        client.set_cookie(COOKIE_NAME, session.cookie, domain="localhost")
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/json"}
    if page.body:
        headers["X-Requested-With"] = "fetch"
    results = []
    for _attempt in range(2):
        task_id = task_ids.pop(0) if page.body == "submit" else None
        path = page_path(page, subjects, task_id)
        data = form_body(page.body, session.csrf) if page.body else None
        counter.reset()
        response = client.open(path, method=page.method, data=data, headers=headers,
                               base_url=BASE_URL)
        results.append((response.status_code, counter.count, len(response.data),
                        list(counter.statements), response.headers.get("Location", "")))
        if response.status_code != page.expect:
            title = re.search(rb"<title>(.*?)</title>", response.data)
            print(f"  {page.name}: answered {response.status_code} "
                  f"{(title.group(1) if title else response.data[:200]).decode('utf-8', 'replace')}")
    status, queries, size, statements, location = results[-1]
    ok = status == page.expect and "/login" not in location
    return {"status": status, "queries": queries, "bytes": size, "ok": ok,
            "statements": statements}


def measure_service_time(app, page: Page, subjects: dict, session: Session | None,
                         task_ids: list, requests: int) -> dict:
    """The page's service time without network or load: `requests` in-process requests one
    after another (Flask test client, same configuration and cookie), after 5 warm ones. Wall
    time and this process's CPU time per request, median and p95; what a change does to a page
    reads here without the machine's noise (wrk's figures include queueing and the network)."""
    import statistics

    from werkzeug.test import EnvironBuilder
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/json"}
    if session:
        headers["Cookie"] = f"{COOKIE_NAME}={session.cookie}"
    if page.body:
        headers["X-Requested-With"] = "fetch"
    wall, cpu = [], []
    for i in range(5 + requests):
        task_id = task_ids.pop() if page.body == "submit" else None
        path = page_path(page, subjects, task_id)
        data = form_body(page.body, session.csrf) if page.body else None
        # The request is built before the clock starts: what is timed is the app itself, from
        # the WSGI call to the last byte of the body (what gunicorn would wait for).
        environ = EnvironBuilder(path=path, method=page.method, data=data, headers=headers,
                                 base_url=BASE_URL).get_environ()
        answered = []

        def start_response(status, _headers, exc_info=None, answered=answered):
            answered.append(status)
        started, started_cpu = time.perf_counter(), time.process_time()
        body = app.wsgi_app(environ, start_response)
        try:
            b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        status = int(answered[0].split()[0]) if answered else 0
        if status != page.expect:
            raise SystemExit(f"{page.name}: in-process request answered {status}")
        if i >= 5:
            wall.append(1000 * elapsed)
            cpu.append(1000 * elapsed_cpu)

    def p95(values):
        return sorted(values)[max(0, round(0.95 * len(values)) - 1)]
    return {"requests": requests, "median_ms": round(statistics.median(wall), 2),
            "p95_ms": round(p95(wall), 2), "cpu_median_ms": round(statistics.median(cpu), 2),
            "cpu_p95_ms": round(p95(cpu), 2)}


def run_database(database: str, url: str, args, setup: dict) -> dict:
    print(f"\n== {database}: {url}")
    info = prepare_data(database, url, args.factor, args.seed, args.skip_seed)
    app = make_app(url)
    subjects = get_subjects(app, info["source"], args.submit_tasks)
    submit_ids = list(subjects["submit_task_ids"])
    print(f"  data: {subjects['data']}; {len(submit_ids)} tasks ready to submit")
    if len(submit_ids) < 3:
        raise SystemExit("fewer than 3 tasks to submit: the seed must provide submit_task_ids")
    server = start_gunicorn(url, database, setup, args.port)
    failures = []
    try:
        sessions = open_sessions(server.port, subjects)
        pages = [p for p in PAGES if p.name in args.pages or p.name == "healthz"]
        # Check every page once over HTTP, and count its queries in-process.
        counts = {}
        for page in pages:
            session = sessions.get(page.as_role)
            counts[page.name] = count_queries(app, page, subjects, session, submit_ids)
            if not counts[page.name]["ok"]:
                failures.append(f"{page.name}: in-process request answered "
                                f"{counts[page.name]['status']} (expected {page.expect})")
            if page.method == "GET":
                browser = Browser("127.0.0.1", server.port)
                if session:
                    browser.cookies[COOKIE_NAME] = session.cookie
                status, headers, _ = browser.get(page_path(page, subjects))
                if status != page.expect:
                    failures.append(f"{page.name}: GET answered {status} "
                                    f"{headers.get('location', '')}".strip())
        # Each page's service time in-process (no network, no load), beside wrk's figures.
        service = {}
        for page in pages:
            service[page.name] = measure_service_time(app, page, subjects, sessions.get(page.as_role),
                                                      submit_ids, args.requests)
        # The statements themselves, to see what a page's queries are (first line of each).
        (DATA_DIR / f"queries-{database}-f{args.factor}.json").write_text(json.dumps(
            {name: c["statements"] for name, c in counts.items()}, indent=2) + "\n")
        if failures:
            raise SystemExit("broken pages, nothing measured:\n  " + "\n  ".join(failures))

        measured = []
        for page in pages + [p for p in pages if p.name == "healthz"]:
            session = sessions.get(page.as_role)
            env = {"BENCH_METHOD": page.method, "BENCH_PATH": page_path(page, subjects),
                   "BENCH_COOKIE": f"{COOKIE_NAME}={session.cookie}" if session else "",
                   "BENCH_EXPECT": str(page.expect), "BENCH_BODY_FILE": "", "BENCH_IDS_FILE": ""}
            tmp = []
            if page.body:
                body = tempfile.NamedTemporaryFile("w", suffix=".body", delete=False)
                body.write(urllib.parse.urlencode(form_body(page.body, session.csrf)))
                body.close()
                tmp.append(body.name)
                env["BENCH_BODY_FILE"] = body.name
            if page.body == "submit":
                ids = tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False)
                ids.write("\n".join(str(i) for i in submit_ids) + "\n")
                ids.close()
                tmp.append(ids.name)
                env["BENCH_IDS_FILE"] = ids.name
            else:
                run_wrk(server.port, env, args.warmup, args.connections, args.wrk_threads)
            cpu_before = server.worker_cpu()
            result = run_wrk(server.port, env, args.duration, args.connections, args.wrk_threads)
            result["worker_cpu_share"] = cpu_share(cpu_before, server.worker_cpu())
            for name in tmp:
                os.unlink(name)
            bad = result["unexpected"] + result["login_redirects"] + \
                result["socket_errors"]["timeout"] + result["socket_errors"]["connect"]
            if result["requests"] == 0:
                failures.append(f"{page.name}: no request completed in {args.duration} s "
                                "(slower than the duration: raise --duration)")
            if bad:
                failures.append(f"{page.name}: {bad} of {result['requests']} responses wrong "
                                f"(statuses {result['statuses']}, login redirects "
                                f"{result['login_redirects']}, socket {result['socket_errors']})")
            measured.append((page, result))
            print(f"  {page.name:<16} {result['rps']:8.1f} req/s  p95 {result['p95_ms']:7.1f} ms"
                  f"  ({result['requests']} requests)")
        rss = server.rss_mb()
    finally:
        server.stop()

    # /healthz runs first and last; the faster of the two is the ceiling the pages are held to
    # (on a shared machine the other one was probably disturbed).
    healthz_start, healthz_end = measured[0][1], measured[-1][1]
    healthz = max(healthz_start, healthz_end, key=lambda r: r["rps"])
    page_rows = []
    for page, result in measured[1:-1]:
        count = counts[page.name]
        page_rows.append({
            "name": page.name, "path": page_path(page, subjects), "route": page.path,
            "method": page.method,
            "rps": round(result["rps"], 1), "p50_ms": round(result["p50_ms"], 2),
            "p95_ms": round(result["p95_ms"], 2), "p99_ms": round(result["p99_ms"], 2),
            "queries": count["queries"], "bytes": count["bytes"],
            "ratio_to_healthz": round(result["rps"] / healthz["rps"], 3) if healthz["rps"] else 0.0,
            "requests": result["requests"], "max_ms": round(result["max_ms"], 2),
            "statuses": result["statuses"], "wrong_responses": result["unexpected"]
            + result["login_redirects"],
            "service_median_ms": service[page.name]["median_ms"],
            "service_p95_ms": service[page.name]["p95_ms"],
            "service_cpu_median_ms": service[page.name]["cpu_median_ms"],
            "worker_cpu_share": result["worker_cpu_share"],
            **({"tasks_available": len(submit_ids), "overrun": result["overrun"]}
               if page.body == "submit" else {}),
        })
    run = {
        "database": database, "connections": args.connections,
        "healthz_rps": round(healthz["rps"], 1), "pages": page_rows,
        "factor": args.factor, "healthz_p95_ms": round(healthz["p95_ms"], 2),
        "healthz_rps_start": round(healthz_start["rps"], 1),
        "healthz_rps_end": round(healthz_end["rps"], 1),
        "worker_rss_mb": max(rss["workers"] or [0.0]), "rss_mb": rss,
        "server": dict(setup, config="production, SESSION_COOKIE_SECURE=0"),
        "wrk": {"threads": args.wrk_threads, "duration_s": args.duration, "warmup_s": args.warmup},
        "data": dict(subjects["data"], source=info["source"], seed_seconds=info["seed_seconds"],
                     reused=info["reused"]),
        "database_version": database_version(database, url),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "failures": failures,
    }
    return run


# --- machine, results, table -------------------------------------------------------------------

def database_version(database: str, url: str) -> str:
    if database == "sqlite":
        return "SQLite " + sqlite3.sqlite_version
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        # Asked of the server's own `postgres` database: on a fresh machine the benchmark's
        # database does not exist yet, and the label (part of the machine's summary, which
        # decides whether earlier results are kept) must not depend on it.
        server = make_url(url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(server.render_as_string(hide_password=False)) as conn:
            return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # the version is a label; never fail the run over it
        return f"PostgreSQL (unknown: {exc.__class__.__name__})"


def machine_info(pg_url: str) -> dict:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    details = {
        "cpu": cpu, "cores": cores, "ram_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "postgresql": database_version("postgresql", pg_url).removeprefix("PostgreSQL "),
        "wrk": wrk_version(),
    }
    summary = (f"{cpu}, {cores} cores, {mem_gb} GB RAM, {details['os']}, Python {details['python']}, "
               f"SQLite {details['sqlite']}, PostgreSQL {details['postgresql']}")
    return {"summary": summary, "details": details}


def wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        return out.split()[1] if out.startswith("wrk") else out.strip()
    except (OSError, IndexError):
        return "unknown"


def run_key(run: dict) -> tuple:
    return (run["database"], run.get("factor", 1), run["connections"])


def write_results(path: Path, machine: dict, runs: list[dict]) -> dict:
    """Merge into `path`: a run replaces the earlier one of the same database, factor and
    connections (so `make bench` and `make bench FACTOR=10` together give the comparison);
    results from another machine are replaced altogether."""
    existing = {}
    try:
        existing = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        pass
    kept = []
    if existing.get("machine") == machine["summary"]:
        new_keys = {run_key(r) for r in runs}
        kept = [r for r in existing.get("runs", []) if run_key(r) not in new_keys]
    order = {"sqlite": 0, "postgresql": 1}
    all_runs = sorted(kept + runs, key=lambda r: (r.get("factor", 1), order.get(r["database"], 9),
                                                  r["connections"]))
    document = {"machine": machine["summary"], "machine_details": machine["details"],
                "targets": {"ratio_to_healthz_min": TARGET_RATIO, "ratio_to_healthz_goal": GOAL_RATIO,
                            "p95_ms_max": TARGET_P95_MS, "p95_ms_max_by_page": TARGET_P95_MS_BY_PAGE,
                            "service_median_ms_max": TARGET_SERVICE_MS,
                            "sign_in_page_cpu_ms_max": TARGET_SIGN_IN_CPU_MS,
                            "queries_max": TARGET_QUERIES, "p95_growth_10x_max": TARGET_GROWTH,
                            "worker_rss_mb_max": TARGET_RSS_MB},
                "runs": all_runs}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document


def mark(value: str, missed: bool) -> str:
    return value + (" !" if missed else "  ")


def print_run(run: dict) -> None:
    server = run["server"]
    workers = f"{server['workers']} {server['worker_class']} workers"
    if server["worker_class"] == "gthread":
        workers += f" x {server['threads']} threads"
    if "keepalive" in server:
        workers += f", keep-alive {server['keepalive']} s"
    rss = run["worker_rss_mb"]
    print(f"\n{run['database']} (factor {run.get('factor', 1)}, {run['connections']} connections, "
          f"{workers}): /healthz {run['healthz_rps']:.0f} req/s (p95 {run.get('healthz_p95_ms', 0):.1f} ms; "
          f"start {run.get('healthz_rps_start', 0):.0f}, end {run.get('healthz_rps_end', 0):.0f}); worker RSS "
          + mark(f"{rss:.0f} MB", rss > TARGET_RSS_MB).strip())
    header = (f"  {'page':<16} {'rps':>8} {'p50 ms':>9} {'p95 ms':>10} {'p99 ms':>9} "
              f"{'queries':>9} {'bytes':>8} {'% healthz':>11} {'svc ms':>8} {'cpu ms':>7} {'spread':>10}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for p in run["pages"]:
        p95 = mark(f"{p['p95_ms']:.1f}", p["p95_ms"] > TARGET_P95_MS_BY_PAGE.get(p["name"], TARGET_P95_MS))
        queries = mark(str(p["queries"]), p["queries"] > TARGET_QUERIES)
        ratio = mark(f"{100 * p['ratio_to_healthz']:.0f} %",
                     p["method"] == "GET" and p["ratio_to_healthz"] < TARGET_RATIO)
        service = p.get("service_median_ms")
        cpu = p.get("service_cpu_median_ms")
        service_text = "" if service is None else mark(
            f"{service:.1f}", p["method"] == "GET" and service > TARGET_SERVICE_MS)
        cpu_text = "" if cpu is None else mark(
            f"{cpu:.2f}", p["name"] == "sign_in_page" and cpu > TARGET_SIGN_IN_CPU_MS)
        spread = "/".join(f"{100 * share:.0f}" for share in p.get("worker_cpu_share") or [])
        print(f"  {p['name']:<16} {p['rps']:8.1f} {p['p50_ms']:9.1f} {p95:>10} {p['p99_ms']:9.1f} "
              f"{queries:>9} {p['bytes']:8d} {ratio:>11} {service_text:>8} {cpu_text:>7} {spread:>10}")
    for failure in run.get("failures", []):
        print(f"  BROKEN: {failure}")


def growth_rows(document: dict) -> list[dict]:
    """p95 at the largest factor against factor 1, per database and page."""
    rows = []
    runs = document.get("runs", [])
    for base in (r for r in runs if r.get("factor", 1) == 1):
        bigger = [r for r in runs if r["database"] == base["database"]
                  and r["connections"] == base["connections"] and r.get("factor", 1) > 1]
        if not bigger:
            continue
        big = max(bigger, key=lambda r: r["factor"])
        by_name = {p["name"]: p for p in big["pages"]}
        for p in base["pages"]:
            q = by_name.get(p["name"])
            if q and p["p95_ms"]:
                rows.append({"database": base["database"], "factor": big["factor"], "page": p["name"],
                             "p95_1x": p["p95_ms"], "p95_nx": q["p95_ms"],
                             "growth": round(q["p95_ms"] / p["p95_ms"], 2),
                             "queries_1x": p["queries"], "queries_nx": q["queries"]})
    return rows


def print_growth(document: dict) -> None:
    rows = growth_rows(document)
    if not rows:
        print("\n(no factor-1 and larger-factor runs to compare yet: run `make bench FACTOR=10` too)")
        return
    print(f"\np95 growth with more data (target <= {TARGET_GROWTH}x)")
    print(f"  {'database':<11} {'page':<16} {'p95 1x':>8} {'p95 Nx':>8} {'growth':>9} {'queries 1x/Nx':>14}")
    for r in rows:
        growth = f"{r['growth']:.2f}x"
        print(f"  {r['database']:<11} {r['page']:<16} {r['p95_1x']:8.1f} {r['p95_nx']:8.1f} "
              f"{mark(growth, r['growth'] > TARGET_GROWTH):>9} {r['queries_1x']:>6}/{r['queries_nx']:<7}"
              f" (N={r['factor']})")


def print_legend() -> None:
    print(f"\n! = target missed: p95 > {TARGET_P95_MS:.0f} ms (submit {TARGET_P95_MS_BY_PAGE['submit']:.0f}), "
          f"queries > {TARGET_QUERIES}, a read page under {100 * TARGET_RATIO:.0f} % of /healthz, "
          f"in-process median (svc ms) over {TARGET_SERVICE_MS:g} ms, sign-in page CPU over "
          f"{TARGET_SIGN_IN_CPU_MS} ms, worker RSS > {TARGET_RSS_MB:.0f} MB, p95 growth > {TARGET_GROWTH}x; "
          f"spread = each worker's share of the CPU during the page's run (%)")


# --- profiling ---------------------------------------------------------------------------------

def bench_data(args, database: str) -> tuple[str, dict]:
    """The URL and the seed state of the data a bench run left for this database and factor."""
    url = sqlite_url(args.factor) if database == "sqlite" else args.pg_url
    info = load_state().get(url)
    if not info:
        raise SystemExit(f"{url} has no bench data yet: run `python bench/run.py --databases "
                         f"{database}` first.")
    return url, info


def in_process_session(app, subjects: dict, role: str, with_csrf: bool):
    """A test-client browser signed in as `role` through the real forms, and its Session."""
    browser = TestClientBrowser(app)
    if role == "anonymous":
        return browser, None
    email = subjects[{"therapist": "therapist_email", "client": "client_email",
                      "submitter": "submitter_email"}[role]]
    sign_in(browser, email, subjects["password"],
            subjects.get("totp_secret") if role == "therapist" else None)
    csrf = ""
    if with_csrf:
        task = subjects["open_task_id"] if role == "client" else subjects["submit_task_ids"][0]
        csrf = csrf_token_from(browser.get(f"/tasks/{task}")[2])
    return browser, Session(browser.cookie_value(), csrf)


def service_times(args) -> None:
    """--service-time: every page's in-process service time on the data a bench run left (no
    gunicorn, no wrk), printed; quick to repeat while changing code."""
    for database in args.databases:
        url, info = bench_data(args, database)
        app = make_app(url)
        subjects = get_subjects(app, info["source"], args.submit_tasks)
        ids = list(subjects["submit_task_ids"])
        sessions = {}
        print(f"\n{database} (factor {args.factor}): in-process, {args.requests} requests per page")
        print(f"  {'page':<16} {'median ms':>10} {'p95 ms':>8} {'cpu median':>11} {'cpu p95':>8}")
        for page in PAGES:
            if page.name not in args.pages and page.name != "healthz":
                continue
            if page.as_role not in sessions:
                sessions[page.as_role] = in_process_session(app, subjects, page.as_role, True)[1]
            row = measure_service_time(app, page, subjects, sessions[page.as_role], ids,
                                       args.requests)
            print(f"  {page.name:<16} {row['median_ms']:>10.2f} {row['p95_ms']:>8.2f} "
                  f"{row['cpu_median_ms']:>11.2f} {row['cpu_p95_ms']:>8.2f}")


def profile(args) -> None:
    """pyinstrument over N in-process requests to one page, on data a bench run seeded."""
    from pyinstrument import Profiler

    database = args.databases[0]
    url, info = bench_data(args, database)
    page = next(p for p in PAGES if p.name == args.profile)
    app = make_app(url)
    subjects = get_subjects(app, info["source"], args.submit_tasks)
    browser, session = in_process_session(app, subjects, page.as_role, bool(page.body))
    ids = list(subjects["submit_task_ids"])
    if page.body == "submit" and len(ids) < args.requests + 3:
        raise SystemExit(f"only {len(ids)} tasks left to submit; ask for fewer --requests")

    def one():
        task_id = ids.pop(0) if page.body == "submit" else None
        data = form_body(page.body, session.csrf) if page.body else None
        status, headers, _ = browser.request(page.method, page_path(page, subjects, task_id), data,
                                             {"X-Requested-With": "fetch"} if page.body else None)
        if status != page.expect or "/login" in headers.get("location", ""):
            raise SystemExit(f"{page.name} answered {status} {headers.get('location', '')}")

    for _ in range(3):
        one()
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for _ in range(args.requests):
        one()
    profiler.stop()
    elapsed = time.perf_counter() - started
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    stem = PROFILES_DIR / f"{database}-f{args.factor}-{page.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    Path(f"{stem}.html").write_text(profiler.output_html())
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    Path(f"{stem}.txt").write_text(text)
    print(text)
    print(f"{args.requests} requests in {elapsed:.2f} s ({1000 * elapsed / args.requests:.1f} ms each, "
          f"profiler overhead included)\nwritten: {stem}.html and {stem}.txt")


# --- main --------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (default both, in that order)")
    parser.add_argument("--factor", type=int, default=1, help="data scale for flask seed-scale")
    parser.add_argument("--skip-seed", action="store_true",
                        help="reuse the data an earlier run seeded (same factor)")
    parser.add_argument("--seed", choices=["auto", "seed-scale", "seed-demo"], default="auto",
                        help="auto: seed-scale once app/ops/scale.py has bench_subjects, else seed-demo")
    parser.add_argument("--submit-tasks", type=int, default=1500,
                        help="seed-demo only: open tasks with drafts made for the submit page")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per page")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per page")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--keepalive", type=int, default=0,
                        help="gunicorn keep-alive seconds (0: close each connection after its response)")
    parser.add_argument("--pages", default=",".join(PAGE_NAMES),
                        help="comma-separated subset of: " + ", ".join(PAGE_NAMES))
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
                        help="PostgreSQL database to use (its public schema is dropped!)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--profile", metavar="PAGE", choices=PAGE_NAMES,
                        help="profile one page in-process with pyinstrument instead of a run")
    parser.add_argument("--requests", type=int, default=200, help="--profile: requests to profile")
    parser.add_argument("--service-time", action="store_true",
                        help="only the in-process service time of each page (--requests each) on "
                             "the data of an earlier run: no gunicorn, no wrk")
    parser.add_argument("--compare", action="store_true",
                        help="print the tables and the 10x comparison from --results, run nothing")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    for d in args.databases:
        if d not in ("sqlite", "postgresql"):
            parser.error(f"unknown database {d!r}")
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    for p in args.pages:
        if p not in PAGE_NAMES:
            parser.error(f"unknown page {p!r}")
    if "cg_bench" not in args.pg_url.rsplit("/", 1)[-1]:
        parser.error("--pg-url must name a cg_bench database (its schema is dropped)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    # config.py reads the environment when first imported: set it before anything imports app.
    os.environ.update({k: v for k, v in app_env(args.pg_url).items()
                       if k in ("SECRET_KEY", "ENCRYPTION_KEYS", "COMMON_GROUND_ENV",
                                "SESSION_COOKIE_SECURE", "TRUSTED_HOSTS")})
    if args.compare:
        document = json.loads(args.results.read_text())
        print(f"machine: {document['machine']}")
        for run in document["runs"]:
            print_run(run)
        print_growth(document)
        print_legend()
        return 0
    if args.profile:
        profile(args)
        return 0
    if args.service_time:
        service_times(args)
        return 0
    ensure_wrk()
    setup = {"workers": args.workers, "worker_class": args.worker_class, "threads": args.threads,
             "keepalive": args.keepalive}
    machine = machine_info(args.pg_url)
    print(f"machine: {machine['summary']}")
    runs = []
    for database in args.databases:
        url = sqlite_url(args.factor) if database == "sqlite" else args.pg_url
        runs.append(run_database(database, url, args, setup))
    document = write_results(args.results, machine, runs)
    for run in runs:
        print_run(run)
    print_growth(document)
    print_legend()
    print(f"\nwritten: {args.results}")
    broken = [f for run in runs for f in run["failures"]]
    if broken:
        print("\nBROKEN MEASUREMENTS (wrong responses, errors or nothing completed):\n  "
              + "\n  ".join(broken))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
