"""`flask outbox-worker`: sends what the outbox holds, in production (OUTBOX_DELIVERY=worker).

With OUTBOX_REDIS_URL set it is an rq worker: each commit that queued something enqueues a
wake-up job (app/notifications/deliverer.py), so an email leaves within moments; a sweep thread
beside it still polls the table, for retries, for items whose wake-up was lost (Redis down at that
moment) and for the daily digests. Without Redis it is a plain loop that polls every
OUTBOX_POLL_SECONDS. Run one or several: the outbox's claims keep them from sending anything twice.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db

log = logging.getLogger("common_ground.outbox")
QUEUE_NAME = "common-ground-outbox"
DIGEST_EVERY_SECONDS = 300


def deliver_job() -> int:
    """The rq job: deliver everything due now (it runs inside the worker's app context)."""
    from app.notifications import outbox

    try:
        sent = 0
        while (claimed := outbox.deliver_due()):
            sent += claimed
        return sent
    finally:
        db.session.remove()


def enqueue_wake_up() -> None:
    """After a commit that queued something: wake a worker through Redis. Redis unreachable is
    not an error here: the item is in the table, and the worker's sweep will find it."""
    try:
        from rq import Queue

        Queue(QUEUE_NAME, connection=_redis(current_app.config["OUTBOX_REDIS_URL"])).enqueue(
            "app.notifications.worker.deliver_job", job_timeout=300, result_ttl=0, failure_ttl=3600)
    except Exception as exc:  # noqa: BLE001 - any Redis trouble: the sweep delivers it
        log.warning("Could not wake the outbox worker through Redis (%s); its next sweep will send",
                    type(exc).__name__)


_connections: dict = {}


def _redis(url: str):
    """One Redis client (and its connection pool) per URL and process, not one per commit."""
    if url not in _connections:
        from redis import Redis

        _connections[url] = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    return _connections[url]


def sweep_once(app) -> int:
    """One round of the plain loop and of the sweep: deliver what is due, then the digests."""
    from app.notifications import digest, outbox

    with app.app_context():
        try:
            sent = 0
            while (claimed := outbox.deliver_due()):
                sent += claimed
            if time.monotonic() - _last_digest_run[0] >= DIGEST_EVERY_SECONDS:
                _last_digest_run[0] = time.monotonic()
                digest.send_digests()
            return sent
        finally:
            db.session.remove()


_last_digest_run = [float("-inf")]


def run_loop(app, stop: threading.Event) -> None:
    """The plain worker: sweep, sleep OUTBOX_POLL_SECONDS, until stopped."""
    poll = app.config["OUTBOX_POLL_SECONDS"]
    while not stop.is_set():
        try:
            sweep_once(app)
        except Exception:  # a database hiccup: log, wait, go on
            log.exception("Outbox sweep failed; trying again in %s s", poll)
        stop.wait(poll)


@click.command("outbox-worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (cron, tests).")
@with_appcontext
def outbox_worker_command(once: bool) -> None:
    """Send the outbox's emails and pushes (run it beside gunicorn; several may run)."""
    app = current_app._get_current_object()
    if once:
        click.echo(f"Sent {sweep_once(app)} item(s).")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    redis_url = app.config.get("OUTBOX_REDIS_URL")
    if not redis_url:
        click.echo(f"Outbox worker: polling every {app.config['OUTBOX_POLL_SECONDS']} s (no Redis).")
        run_loop(app, stop)
        return
    from redis import Redis
    from rq import Queue, SimpleWorker

    sweeper = threading.Thread(target=run_loop, args=(app, stop), name="outbox-sweep", daemon=True)
    sweeper.start()
    click.echo("Outbox worker: woken through Redis, sweeping every "
               f"{app.config['OUTBOX_POLL_SECONDS']} s.")
    connection = Redis.from_url(redis_url)
    worker = SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
    worker.work(with_scheduler=False)
    stop.set()
