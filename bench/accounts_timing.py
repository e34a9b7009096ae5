"""Do sign-in, password reset and invitations take the same time for an address that has an
account and one that has not? (Issue 24: the answer and its time must not tell.)

Runs the app in-process on a throwaway SQLite database with the production password-hashing
cost, and times each pair of requests interleaved (known, unknown, known, ...) so that the
machine's drift affects both alike. Prints medians and the 90th percentile per case.

    .venv/bin/python bench/accounts_timing.py            # 200 rounds per case
    .venv/bin/python bench/accounts_timing.py --rounds 50
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import Config, TestingConfig  # noqa: E402


def _config(db_path: str):
    class Timing(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{db_path}"
        ARGON2_TIME_COST = Config.ARGON2_TIME_COST
        ARGON2_MEMORY_COST = Config.ARGON2_MEMORY_COST
        ARGON2_PARALLELISM = Config.ARGON2_PARALLELISM
        MAIL_SERVER = None  # emails go to the log (queued, after the response)

    return Timing


def _time(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    import logging

    from flask_migrate import upgrade

    from app import create_app
    from app.core.passwords import hash_password
    from app.extensions import db, limiter
    from app.models import ROLE_CLIENT, ROLE_THERAPIST, User

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(_config(f"{folder}/timing.sqlite"))
        logging.getLogger("common_ground.mail").setLevel(logging.ERROR)
        with app.app_context():
            upgrade()
            therapist = User(email="t@example.org", name="T", role=ROLE_THERAPIST,
                             password_hash=hash_password("a long therapist password"))
            db.session.add(therapist)
            db.session.flush()
            db.session.add(User(email="known@example.org", name="K", role=ROLE_CLIENT,
                                therapist_id=therapist.id, password_hash=hash_password("the right one")))
            db.session.commit()
        browser = app.test_client()
        cases = {
            "sign-in, wrong password": lambda e: browser.post("/login", data={"email": e, "password": "wrong guess"}),
            "password reset request": lambda e: browser.post("/reset", data={"email": e}),
        }
        print(f"{'case':28} {'address':10} {'median ms':>10} {'p90 ms':>8}")
        for name, request in cases.items():
            times = {"known": [], "unknown": []}
            for i in range(args.rounds):
                limiter.reset()
                times["known"].append(_time(lambda send=request: send("known@example.org")))
                times["unknown"].append(_time(lambda send=request, n=i: send(f"nobody{n}@example.org")))
            for who, values in times.items():
                values.sort()
                print(f"{name:28} {who:10} {statistics.median(values):10.2f} "
                      f"{values[int(len(values) * 0.9)]:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
