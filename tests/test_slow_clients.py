"""Issue 22: slow clients cannot starve the server. The shipped deployment (deploy/nginx-proxy.conf
in front of gunicorn with deploy/gunicorn.conf.py) under 20 connections that send their headers a
byte a second for 30 s: every /healthz probe meanwhile is answered, each within 2 s (a generous
bound: this is about starvation, not speed; the figures are printed for the issue's note).

nginx comes from Debian (.ci/run installs it); without it the test skips, and fails under CI."""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from app.extensions import db
from tests.support.processes import free_port, start_gunicorn

ROOT = Path(__file__).resolve().parents[1]
SLOW_CONNECTIONS = 20
SECONDS = 30
PROBE_BOUND = 2.0
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


@pytest.fixture
def deployment(app, tmp_path):
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed")
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    db.session.commit()
    gunicorn = start_gunicorn(url, tmp_path / "gunicorn.log", shipped_config=True)
    port = free_port()
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / folder).mkdir()
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    upstream commonground {{ server 127.0.0.1:{gunicorn.port}; }}
    server {{
        listen 127.0.0.1:{port};
        include {ROOT}/deploy/nginx-proxy.conf;
    }}
}}
""")
    nginx = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if urllib.request.urlopen(base + "/healthz", timeout=2).status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or nginx.poll() is not None:
                    raise RuntimeError((tmp_path / "nginx-error.log").read_text(errors="replace")
                                       if (tmp_path / "nginx-error.log").exists() else "nginx did not start") from None
                time.sleep(0.2)
        yield base, port, gunicorn
    finally:
        nginx.terminate()
        nginx.wait(10)
        gunicorn.stop()


def _slow_client(port: int, stop: threading.Event, dropped: list) -> None:
    """Open a request and send its headers a byte a second; when dropped, come back."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                while not stop.is_set():
                    conn.sendall(b"X")
                    time.sleep(1)
        except OSError:
            dropped.append(time.monotonic())  # the server gave up on it: as it should
            time.sleep(0.2)


def test_twenty_slow_connections_do_not_starve_the_server(deployment):
    base, port, _gunicorn = deployment
    stop, dropped = threading.Event(), []
    slow = [threading.Thread(target=_slow_client, args=(port, stop, dropped), daemon=True)
            for _ in range(SLOW_CONNECTIONS)]
    for thread in slow:
        thread.start()
    times, failures = [], []
    started = time.monotonic()
    try:
        while time.monotonic() - started < SECONDS:
            begin = time.monotonic()
            try:
                status = urllib.request.urlopen(base + "/healthz", timeout=PROBE_BOUND).status
                elapsed = time.monotonic() - begin
                times.append(elapsed)
                if status != 200:
                    failures.append(f"status {status}")
            except OSError as exc:
                failures.append(f"{type(exc).__name__} after {time.monotonic() - begin:.2f} s")
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in slow:
            thread.join(10)
    times.sort()
    print(f"\nslow clients: {SLOW_CONNECTIONS} for {SECONDS} s; {len(times)} probes answered, "
          f"median {statistics.median(times) * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms; "
          f"{len(dropped)} slow connections dropped by the proxy")
    assert not failures, failures
    assert len(times) >= SECONDS  # about two probes a second, every one answered
    assert times[-1] < PROBE_BOUND
    assert dropped, "the proxy never closed a slow connection (client_header_timeout)"
