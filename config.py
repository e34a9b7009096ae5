"""Configuration classes, driven by environment variables.

DevelopmentConfig is the default for `make run`; ProductionConfig refuses to start without a
strong SECRET_KEY; TestingConfig is used by the test suite.
"""
import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"
# The embedded default (`make run`); production refuses to start on it (DATABASE_URL unset).
DEFAULT_DATABASE_URL = f"sqlite:///{INSTANCE_DIR / 'common-ground.sqlite'}"

DEFAULT_CRISIS_TEXT = (
    "Common Ground is not an emergency service. If you are in danger or thinking of harming "
    "yourself, call your local emergency number now (112 in Europe, 999 in the UK, 911 in the US) "
    "or a crisis line: Samaritans 116 123 (UK and Ireland), 988 (US)."
)


def normalise_database_url(url: str) -> str:
    """Let plain postgresql:// (and postgres://) URLs use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> list[str] | None:
    """A comma-separated variable as a list; None when unset or empty."""
    items = [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
    return items or None


def _dev_secret_key() -> str:
    """A random key kept in instance/ so development sessions survive a restart."""
    path = INSTANCE_DIR / "dev-secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        return key


def _dev_vapid_key() -> str:
    """A VAPID private key kept in instance/, so that push works under `make run` (localhost is
    a secure context for the browser) and devices stay subscribed across restarts."""
    path = INSTANCE_DIR / "dev-vapid-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        from cryptography.hazmat.primitives.asymmetric import ec

        scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
        key = base64.urlsafe_b64encode(scalar.to_bytes(32, "big")).decode().rstrip("=")
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(key)
        return key


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    # Encryption at rest (app/core/crypto.py): "id:base64key,id:base64key", 32-byte keys, the first
    # one encrypts. Unset: a key derived from SECRET_KEY (production refuses to start without it).
    ENCRYPTION_KEYS = os.environ.get("ENCRYPTION_KEYS")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    # hide_parameters: a database error (logged with its statement) or SQL echo never carries the
    # values bound to it, such as a reflection's text.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    PRACTICE_NAME = os.environ.get("PRACTICE_NAME", "Common Ground")
    PRACTICE_TIMEZONE = os.environ.get("PRACTICE_TIMEZONE", "Europe/London")
    CRISIS_TEXT = os.environ.get("CRISIS_TEXT", DEFAULT_CRISIS_TEXT)

    # Sessions: the cookie only carries a reference to a server-side login session row.
    SESSION_COOKIE_NAME = "cg_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_NAME = "cg_remember"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    # Never longer than a login session may live (see SESSION_ABSOLUTE_LIFETIME).
    REMEMBER_COOKIE_DURATION = timedelta(hours=int(os.environ.get("SESSION_ABSOLUTE_HOURS", "12")))
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    SESSION_IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))
    SESSION_ABSOLUTE_LIFETIME = timedelta(hours=int(os.environ.get("SESSION_ABSOLUTE_HOURS", "12")))

    # Five answers of 20,000 characters, URL-encoded (an emoji is 12 bytes), must still fit.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    # The host names this practice is served under (Flask checks each request's Host against
    # them, so that links in emails cannot be pointed elsewhere). Comma-separated; a leading dot
    # allows subdomains. Unset: any host (fine on a laptop; `flask check-deploy` fails on it).
    TRUSTED_HOSTS = _env_list("TRUSTED_HOSTS")
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the login session

    # PostgreSQL never waits without end (app/core/database.py): a connection is given up after
    # this many seconds, a statement after DATABASE_STATEMENT_TIMEOUT_MS (under gunicorn's 30 s
    # worker timeout; not for CLI commands such as migrations), an unanswered link (packets
    # dropped, not refused) after DATABASE_TCP_TIMEOUT_MS, a wait for a pooled connection after 10 s.
    DATABASE_CONNECT_TIMEOUT = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
    DATABASE_STATEMENT_TIMEOUT_MS = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT_MS", "15000"))
    DATABASE_TCP_TIMEOUT_MS = int(os.environ.get("DATABASE_TCP_TIMEOUT_MS", "8000"))
    DATABASE_POOL_TIMEOUT = 10

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Redis gone or unreachable: sign-in keeps working, throttled per process (and logged so),
    # never a 500 and never a hang (a short socket timeout); Redis is tried again by itself.
    RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": 1, "socket_connect_timeout": 1}
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_PER_ADDRESS = os.environ.get("LOGIN_RATE_PER_ADDRESS", "30 per minute")
    LOGIN_RATE_PER_ACCOUNT = os.environ.get("LOGIN_RATE_PER_ACCOUNT", "10 per minute")
    # A therapist's calendar feed (app/therapy_sessions/calendar_feed.py): fetches allowed per
    # address (calendars ask every hour or so, a few devices each), and unknown addresses (404)
    # allowed per client address before it is refused.
    CALENDAR_FEED_RATE = os.environ.get("CALENDAR_FEED_RATE", "120 per hour")
    CALENDAR_FEED_UNKNOWN_RATE = os.environ.get("CALENDAR_FEED_UNKNOWN_RATE", "300 per hour")
    # How many reverse proxies set X-Forwarded-For in front of the app (0: none).
    PROXY_FIX_X_FOR = int(os.environ.get("PROXY_FIX_X_FOR", "0"))

    INVITATION_LIFETIME = timedelta(days=int(os.environ.get("INVITATION_DAYS", "7")))
    PASSWORD_RESET_LIFETIME = timedelta(hours=1)
    PASSWORD_MIN_LENGTH = 12
    PASSWORD_MAX_LENGTH = 1024
    # argon2id parameters (RFC 9106 second recommended option)
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 64 * 1024
    ARGON2_PARALLELISM = 2

    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Common Ground <no-reply@localhost>")
    MAIL_TIMEOUT = 10
    # Without MAIL_SERVER, emails go to the log. Their bodies hold invitation and reset links
    # (tokens), so only development logs them in full; elsewhere only recipient and subject.
    MAIL_LOG_BODIES = False
    # The outbox (app/notifications/outbox.py): every email and push is written with the change that
    # causes it and sent afterwards. "thread": by a thread of the web process (development); "worker":
    # by `flask outbox-worker` (production), woken through Redis when OUTBOX_REDIS_URL is set,
    # otherwise polling every OUTBOX_POLL_SECONDS. A failed send is tried again after 30 s, 1, 2,
    # 4 ... minutes (at most 6 h apart), OUTBOX_MAX_ATTEMPTS times in all (about two days).
    OUTBOX_DELIVERY = os.environ.get("OUTBOX_DELIVERY", "worker")
    OUTBOX_REDIS_URL = os.environ.get("OUTBOX_REDIS_URL")
    OUTBOX_POLL_SECONDS = float(os.environ.get("OUTBOX_POLL_SECONDS", "5"))
    OUTBOX_RETRY_BASE_SECONDS = float(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", "30"))
    OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "16"))
    # A claimed item is another worker's to take again after this long (a worker that died).
    OUTBOX_LEASE_SECONDS = int(os.environ.get("OUTBOX_LEASE_SECONDS", "120"))
    # The daily digest goes once her own day has reached this hour (and her quiet hours allow).
    DIGEST_HOUR = int(os.environ.get("DIGEST_HOUR", "8"))
    # Used to build links in emails when there is no request (cron jobs); requests use their own host.
    SERVER_BASE_URL = os.environ.get("SERVER_BASE_URL")

    # Web push (app/notifications/push.py): the practice's VAPID key pair (`flask vapid-keys` makes
    # one; the public key is derived from the private one, VAPID_PUBLIC_KEY only checked against
    # it) and a contact for the push services (mailto: or https:). Unset: push is off, the account
    # page says so, and emails still go. A device's push address must be https on one of
    # PUSH_SERVICE_HOSTS (comma-separated; "*.domain" for any name under it; "host:port").
    VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY")
    VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY")
    VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT")
    PUSH_SERVICE_HOSTS = _env_list("PUSH_SERVICE_HOSTS") or [
        "fcm.googleapis.com",                 # Chrome, Edge on Android, Opera, Samsung Internet
        "updates.push.services.mozilla.com",  # Firefox
        "push.services.mozilla.com",
        "*.push.apple.com",                   # Safari (web.push.apple.com)
        "*.notify.windows.com",               # Edge on Windows
    ]
    PUSH_ALLOW_PLAIN_HTTP = False  # tests only (their push service on 127.0.0.1); never in production
    PUSH_TTL_SECONDS = 24 * 3600   # how long a push service keeps a push for a device that is off
    PUSH_TIMEOUT_SECONDS = 10
    PUSH_MAX_DEVICES = 10

    ALLOW_DEMO_DATA = True


class DevelopmentConfig(Config):
    """`make run`: SQLite in instance/, email to the log."""

    ENV_NAME = "development"
    DEBUG = False  # the debugger is never on; errors show the friendly page with an id
    MAIL_LOG_BODIES = True  # `make run` has no mail server: the invitation link is in the log
    OUTBOX_DELIVERY = os.environ.get("OUTBOX_DELIVERY", "thread")  # `make run` sends with no worker
    SECRET_KEY = Config.SECRET_KEY or _dev_secret_key()
    VAPID_PRIVATE_KEY = Config.VAPID_PRIVATE_KEY or _dev_vapid_key()
    VAPID_SUBJECT = Config.VAPID_SUBJECT or "mailto:development@localhost.localdomain"


class TestingConfig(Config):
    """The test suite: its own database, fast hashing, CSRF off unless a test turns it on."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production-0123456789"
    ENCRYPTION_KEYS = None  # derived from the fixed SECRET_KEY, whatever the environment says
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("TEST_DATABASE_URL", "sqlite:///" + str(INSTANCE_DIR / "test.sqlite"))
    )
    WTF_CSRF_ENABLED = False
    TRUSTED_HOSTS = None  # the test client is "localhost" whatever the environment says
    # Throttling stays on in tests, with limits no test reaches; the throttling tests lower them.
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_PER_ADDRESS = "100000 per minute"
    LOGIN_RATE_PER_ACCOUNT = "100000 per minute"
    MAIL_SERVER = None
    OUTBOX_DELIVERY = "thread"  # the tests' emails go through the outbox as in `make run`
    OUTBOX_REDIS_URL = None
    VAPID_PRIVATE_KEY = VAPID_PUBLIC_KEY = VAPID_SUBJECT = None  # push tests set their own keys
    # The cheapest argon2id the library accepts (64 KiB, one pass): the suite hashes and checks
    # thousands of passwords, and what it tests is the flow, not the cost (8 MiB cost 4 ms each).
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 64
    ARGON2_PARALLELISM = 1


class ProductionConfig(Config):
    """Production: secure cookies, demo data refused, SECRET_KEY and ENCRYPTION_KEYS checked
    at start."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    ALLOW_DEMO_DATA = False
    PREFERRED_URL_SCHEME = "https"
    PUSH_ALLOW_PLAIN_HTTP = False  # and app/notifications/push_devices.py ignores it here anyway


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env():
    """The config class named by COMMON_GROUND_ENV (development by default)."""
    name = os.environ.get("COMMON_GROUND_ENV", "development").lower()
    try:
        return CONFIGS[name]
    except KeyError:
        raise SystemExit(f"COMMON_GROUND_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None
