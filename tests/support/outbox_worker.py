"""A real outbox worker process for the tests: the loop `flask outbox-worker` runs, on the test
suite's database, sending to the test's SMTP server. Killed by the test to show that what it was
sending is neither lost nor sent twice.

Usage: python tests/support/outbox_worker.py DATABASE_URL SMTP_PORT LEASE_SECONDS
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app import create_app  # noqa: E402
from app.notifications.worker import run_loop  # noqa: E402
from config import TestingConfig  # noqa: E402


def main() -> None:
    url, port, lease = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    class WorkerConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url
        MAIL_SERVER = "127.0.0.1"
        MAIL_PORT = port
        MAIL_TIMEOUT = 30
        OUTBOX_DELIVERY = "worker"
        OUTBOX_POLL_SECONDS = 0.1
        OUTBOX_LEASE_SECONDS = lease

    app = create_app(WorkerConfig)
    print("worker ready", flush=True)
    run_loop(app, threading.Event())


if __name__ == "__main__":
    main()
