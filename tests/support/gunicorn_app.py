"""The app for tests that run it under a real gunicorn (gunicorn tests.support.gunicorn_app:app).

Configuration comes from the environment: CG_DB (database URL), CG_REDIS (rate-limit storage,
memory:// when unset), CG_RATELIMIT_PREFIX, CG_ACCOUNT_RATE and CG_CSRF ("0" turns CSRF off).
Every process started with the same environment shares the same SECRET_KEY (TestingConfig's)."""
import os

from app import create_app
from config import TestingConfig, normalise_database_url


class GunicornTestConfig(TestingConfig):
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ["CG_DB"])
    RATELIMIT_STORAGE_URI = os.environ.get("CG_REDIS") or "memory://"
    RATELIMIT_KEY_PREFIX = os.environ.get("CG_RATELIMIT_PREFIX", "cg-test")
    LOGIN_RATE_PER_ACCOUNT = os.environ.get("CG_ACCOUNT_RATE", "100000 per minute")
    WTF_CSRF_ENABLED = os.environ.get("CG_CSRF", "1") != "0"  # on, as in production


app = create_app(GunicornTestConfig)
