"""Who sends what the outbox holds, woken after each commit that queued something.

OUTBOX_DELIVERY = "thread" (development, tests: `make run` sends with no extra step): one thread
of this process delivers, woken at once, and again when the earliest retry is due.
OUTBOX_DELIVERY = "worker" (production): `flask outbox-worker` delivers; with Redis configured
(OUTBOX_REDIS_URL) a commit enqueues an rq job that wakes it at once, otherwise it finds the item
at its next poll. Either way a request never waits on SMTP or a push service.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import timedelta

from flask import current_app

from app.extensions import db
from app.models import utcnow

log = logging.getLogger("common_ground.outbox")


def wake() -> None:
    """Something was queued and committed: have it sent."""
    mode = current_app.config["OUTBOX_DELIVERY"]
    if mode == "thread":
        _thread.wake(current_app._get_current_object())
    elif mode == "worker" and current_app.config.get("OUTBOX_REDIS_URL"):
        from app.notifications import worker
        worker.enqueue_wake_up()


def wait_until_delivered(timeout: float = 10.0) -> bool:
    """Block until this process's delivery thread has nothing left to do now (tests, shutdown).
    Items waiting for a later retry do not count."""
    return _thread.wait_idle(timeout)


class _DeliveryThread:
    """One delivery thread per process, started on first use."""

    def __init__(self):
        self._lock = threading.Condition()
        self._woken = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._app = None

    def wake(self, app) -> None:
        with self._lock:
            self._app = app
            self._woken = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="common-ground-outbox", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._woken or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _run(self) -> None:
        sleep_for = None
        while True:
            with self._lock:
                if not self._woken:
                    self._lock.wait(sleep_for)
                self._woken = False
                self._busy = True
                app = self._app
            try:
                sleep_for = self._deliver_all(app)
            except Exception:  # never let one bad round stop delivery for the process
                log.exception("The outbox delivery thread failed; trying again shortly")
                sleep_for = 5.0
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    @staticmethod
    def _deliver_all(app) -> float | None:
        """Send everything due; return how long until the next retry is due (None: nothing waits)."""
        from app.notifications import outbox

        with app.app_context():
            try:
                while outbox.deliver_due():
                    pass
                due = outbox.next_due_at()
            finally:
                db.session.remove()
        if due is None:
            return None
        return max((due - utcnow()) / timedelta(seconds=1), 0.05)


_thread = _DeliveryThread()
# A `flask` command that queued something (send-reminders in development) sends it before exiting.
atexit.register(wait_until_delivered, 10.0)
