"""Serve the app in a separate process for tests that need more than one (python -m tests.support.serve PORT).

Configuration comes from the environment: CG_DB (database URL), CG_REDIS (rate-limit storage),
CG_RATELIMIT_PREFIX and CG_ACCOUNT_RATE."""
import os
import sys

from werkzeug.serving import make_server

from app import create_app
from config import TestingConfig


class ProcessConfig(TestingConfig):
    SQLALCHEMY_DATABASE_URI = os.environ["CG_DB"]
    RATELIMIT_STORAGE_URI = os.environ["CG_REDIS"]
    RATELIMIT_KEY_PREFIX = os.environ.get("CG_RATELIMIT_PREFIX", "cg-test")
    LOGIN_RATE_PER_ACCOUNT = os.environ.get("CG_ACCOUNT_RATE", "4 per minute")


def main() -> None:
    server = make_server("127.0.0.1", int(sys.argv[1]), create_app(ProcessConfig), threaded=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
